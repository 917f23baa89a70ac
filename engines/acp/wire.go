package acp

import (
	"encoding/json"

	"github.com/untether-go/untether/engines"
)

// rpcRequest is a request (with ID) or a notification (without) the client
// sends.
type rpcRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      *int64 `json:"id,omitempty"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// rpcResponse is the client's reply to a request of the agent.
type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// codeMethodNotFound is JSON-RPC's error for a method the client does not
// serve.
const codeMethodNotFound = -32601

// message is any line the agent writes: a request (method and id), a
// notification (method only) or a response (id with result or error).
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *rpcError       `json:"error"`
}

type initializeParams struct {
	ProtocolVersion    int                `json:"protocolVersion"`
	ClientCapabilities clientCapabilities `json:"clientCapabilities"`
}

type clientCapabilities struct {
	FS       fsCapabilities `json:"fs"`
	Terminal bool           `json:"terminal"`
}

type fsCapabilities struct {
	ReadTextFile  bool `json:"readTextFile"`
	WriteTextFile bool `json:"writeTextFile"`
}

type initializeResult struct {
	ProtocolVersion   int `json:"protocolVersion"`
	AgentCapabilities struct {
		LoadSession bool `json:"loadSession"`
	} `json:"agentCapabilities"`
}

type newSessionParams struct {
	Cwd        string `json:"cwd"`
	McpServers []any  `json:"mcpServers"`
}

type loadSessionParams struct {
	SessionID  string `json:"sessionId"`
	Cwd        string `json:"cwd"`
	McpServers []any  `json:"mcpServers"`
}

// sessionResult is the result of session/new (and of session/load, which
// has no session id). The model is a config option "model" (opencode) or
// the unstable "models" state.
type sessionResult struct {
	SessionID     string `json:"sessionId"`
	ConfigOptions []struct {
		ID           string `json:"id"`
		Category     string `json:"category"`
		CurrentValue any    `json:"currentValue"`
	} `json:"configOptions"`
	Models struct {
		CurrentModelID string `json:"currentModelId"`
	} `json:"models"`
}

func (r *sessionResult) model() string {
	for _, o := range r.ConfigOptions {
		if s, ok := o.CurrentValue.(string); ok && (o.ID == "model" || o.Category == "model") {
			return s
		}
	}
	return r.Models.CurrentModelID
}

func (r *sessionResult) hasModelOption() bool {
	for _, o := range r.ConfigOptions {
		if o.ID == "model" {
			return true
		}
	}
	return false
}

type setConfigOptionParams struct {
	SessionID string `json:"sessionId"`
	ConfigID  string `json:"configId"`
	Value     string `json:"value"`
}

type setModelParams struct {
	SessionID string `json:"sessionId"`
	ModelID   string `json:"modelId"`
}

type promptParams struct {
	SessionID string        `json:"sessionId"`
	Prompt    []textContent `json:"prompt"`
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type promptResult struct {
	StopReason string `json:"stopReason"`
	Usage      struct {
		InputTokens      int64 `json:"inputTokens"`
		OutputTokens     int64 `json:"outputTokens"`
		ThoughtTokens    int64 `json:"thoughtTokens"`
		CachedReadTokens int64 `json:"cachedReadTokens"`
	} `json:"usage"`
}

type cancelParams struct {
	SessionID string `json:"sessionId"`
}

// sessionNotification is session/update's params.
type sessionNotification struct {
	SessionID string `json:"sessionId"`
	Update    update `json:"update"`
}

// update is the union of session updates; each fills its own fields.
type update struct {
	SessionUpdate string `json:"sessionUpdate"`
	MessageID     string `json:"messageId"`
	// agent_message_chunk, agent_thought_chunk
	Content json.RawMessage `json:"content"`
	// tool_call, tool_call_update
	toolCall
	// plan
	Entries []planEntry `json:"entries"`
	// usage_update
	Cost *struct {
		Amount   float64 `json:"amount"`
		Currency string  `json:"currency"`
	} `json:"cost"`
}

// toolCall is a tool call as tool_call, tool_call_update and
// session/request_permission carry it.
type toolCall struct {
	ToolCallID string          `json:"toolCallId"`
	Title      string          `json:"title"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	RawInput   json.RawMessage `json:"rawInput"`
	RawOutput  json.RawMessage `json:"rawOutput"`
	Locations  []struct {
		Path string `json:"path"`
	} `json:"locations"`
	// Content is a list of {type: content|diff|terminal}; see toolContent.
	Contents json.RawMessage `json:"content"`
}

// toolContent is one item of a tool call's content.
type toolContent struct {
	Type    string      `json:"type"`
	Content textContent `json:"content"`
	Path    string      `json:"path"`
	OldText *string     `json:"oldText"`
	NewText string      `json:"newText"`
}

type planEntry struct {
	Content string `json:"content"`
	Status  string `json:"status"`
}

type permissionParams struct {
	SessionID string   `json:"sessionId"`
	ToolCall  toolCall `json:"toolCall"`
	Options   []option `json:"options"`
}

type option struct {
	ID   string `json:"optionId"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

type permissionResult struct {
	Outcome outcome `json:"outcome"`
}

type outcome struct {
	Outcome  string `json:"outcome"`
	OptionID string `json:"optionId,omitempty"`
}

func notification(method string, params any) ([]byte, error) {
	return engines.JSONLine(rpcRequest{JSONRPC: "2.0", Method: method, Params: params})
}

func response(id json.RawMessage, result any) ([]byte, error) {
	return engines.JSONLine(rpcResponse{JSONRPC: "2.0", ID: id, Result: result})
}

func errorResponse(id json.RawMessage, code int, msg string) ([]byte, error) {
	return engines.JSONLine(rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}})
}
