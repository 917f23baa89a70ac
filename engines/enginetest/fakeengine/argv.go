package main

import (
	"fmt"
	"slices"
	"strings"
)

// option is one option of a CLI's command line. Engines build their tables
// with set closures bound to their own argument structs.
type option struct {
	names    []string // "-m", "--model"
	usage    string   // how the CLI's errors name it: "--model <model>", "'--model <MODEL>'", "model"
	value    bool     // takes a value
	optional bool     // the value may be left out when the next word is an option
	choices  []string
	set      func(v string)
}

// dialect is how a CLI's argument parser words its errors. A nil error from
// missing or invalid means the CLI silently skips the option.
type dialect interface {
	unknown(arg string) error
	missing(o option) error
	invalid(o option, v string) error
}

// usageError is a refusal of the command line: the whole of stderr and the
// exit status.
type usageError struct {
	stderr string
	code   int
}

func (e *usageError) Error() string { return strings.TrimSuffix(e.stderr, "\n") }

// parseOptions splits args into options, handed to their set functions, and
// positional words. "--name=value" and "-xVALUE" carry a value inline; "--"
// makes the rest positional. With stop set it returns at the first
// positional word, with the words after it in rest, so a caller can treat
// that word as a subcommand.
func parseOptions(args []string, opts []option, dl dialect, stop bool) (positional, rest []string, err error) {
	byName := map[string]option{}
	for _, o := range opts {
		for _, n := range o.names {
			byName[n] = o
		}
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(positional, args[i+1:]...), nil, nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			if stop {
				return positional, args[i+1:], nil
			}
			continue
		}
		name, value, inline := arg, "", false
		if strings.HasPrefix(arg, "--") {
			name, value, inline = strings.Cut(arg, "=")
		} else if o, ok := byName[arg[:2]]; ok && o.value && len(arg) > 2 {
			name, value, inline = arg[:2], arg[2:], true
		}
		o, ok := byName[name]
		if !ok || (inline && !o.value) {
			return positional, nil, dl.unknown(arg)
		}
		if o.value && !inline {
			switch {
			case o.optional && (i+1 >= len(args) || strings.HasPrefix(args[i+1], "-")):
				// Left out rather than eat the next option.
			case i+1 >= len(args):
				if err := dl.missing(o); err != nil {
					return positional, nil, err
				}
				continue
			default:
				i++
				value = args[i]
			}
		}
		if o.choices != nil && !slices.Contains(o.choices, value) {
			if err := dl.invalid(o, value); err != nil {
				return positional, nil, err
			}
			continue
		}
		o.set(value)
	}
	return positional, nil, nil
}

// flagOpt and valueOpt shorten the option tables.
func flagOpt(usage string, set func(), names ...string) option {
	return option{names: names, usage: usage, set: func(string) { set() }}
}

func valueOpt(usage string, set func(string), names ...string) option {
	return option{names: names, usage: usage, value: true, set: set}
}

// commander words errors like commander.js (claude, amp).
type commander struct{}

func (commander) unknown(arg string) error {
	return &usageError{fmt.Sprintf("error: unknown option '%s'\n", arg), 1}
}

func (commander) missing(o option) error {
	return &usageError{fmt.Sprintf("error: option '%s' argument missing\n", o.usage), 1}
}

func (commander) invalid(o option, v string) error {
	return &usageError{fmt.Sprintf("error: option '%s' argument '%s' is invalid. Allowed choices are %s.\n",
		o.usage, v, strings.Join(o.choices, ", ")), 1}
}

// clap words errors like Rust's clap (codex); usage is the command's usage
// line.
type clap struct{ usage string }

const clapHelpHint = "\nFor more information, try '--help'.\n"

func (c clap) unknown(arg string) error {
	return &usageError{fmt.Sprintf("error: unexpected argument '%s' found\n\n"+
		"  tip: to pass '%s' as a value, use '-- %s'\n\nUsage: %s\n"+clapHelpHint, arg, arg, arg, c.usage), 2}
}

func (c clap) missing(o option) error {
	return &usageError{fmt.Sprintf("error: a value is required for '%s' but none was supplied\n"+clapHelpHint, o.usage), 2}
}

func (c clap) invalid(o option, v string) error {
	return &usageError{fmt.Sprintf("error: invalid value '%s' for '%s'\n  [possible values: %s]\n"+clapHelpHint,
		v, o.usage, strings.Join(o.choices, ", ")), 2}
}

// extra is clap's complaint about a positional word the command has no room
// for.
func (c clap) extra(arg string) error {
	return &usageError{fmt.Sprintf("error: unexpected argument '%s' found\n\nUsage: %s\n"+clapHelpHint, arg, c.usage), 2}
}

// yargs words errors like yargs (opencode, gemini): the message, then the
// help, on stderr, exit 1. Option names lose their dashes.
type yargs struct{ help string }

func (y yargs) fail(msg string) error {
	return &usageError{msg + "\n\n" + y.help, 1}
}

func (y yargs) unknown(arg string) error {
	name, _, _ := strings.Cut(strings.TrimLeft(arg, "-"), "=")
	return y.fail("Unknown argument: " + name)
}

func (y yargs) missing(o option) error {
	return y.fail("Not enough arguments following: " + o.usage)
}

func (y yargs) invalid(o option, v string) error {
	quoted := make([]string, len(o.choices))
	for i, c := range o.choices {
		quoted[i] = fmt.Sprintf("%q", c)
	}
	return y.fail(fmt.Sprintf("Invalid values:\n  Argument: %s, Given: %q, Choices: %s", o.usage, v, strings.Join(quoted, ", ")))
}
