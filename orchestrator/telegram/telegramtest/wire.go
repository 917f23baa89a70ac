package telegramtest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// The Bot API's JSON, with the field names of telego's types.go; only the
// fields this server produces.

type wireUser struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	Username  string `json:"username,omitempty"`
}

// wireMe is getMe's answer: a User with the bot-only fields.
type wireMe struct {
	wireUser
	CanJoinGroups           bool `json:"can_join_groups"`
	CanReadAllGroupMessages bool `json:"can_read_all_group_messages"`
	SupportsInlineQueries   bool `json:"supports_inline_queries"`
}

type wireChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	IsForum   bool   `json:"is_forum,omitempty"`
}

type wireEntity struct {
	Type          string    `json:"type"`
	Offset        int       `json:"offset"`
	Length        int       `json:"length"`
	URL           string    `json:"url,omitempty"`
	User          *wireUser `json:"user,omitempty"`
	Language      string    `json:"language,omitempty"`
	CustomEmojiID string    `json:"custom_emoji_id,omitempty"`
}

type wireMessage struct {
	MessageID       int64           `json:"message_id"`
	MessageThreadID int64           `json:"message_thread_id,omitempty"`
	From            *wireUser       `json:"from,omitempty"`
	Date            int64           `json:"date"`
	Chat            wireChat        `json:"chat"`
	IsTopicMessage  bool            `json:"is_topic_message,omitempty"`
	ReplyToMessage  *wireMessage    `json:"reply_to_message,omitempty"`
	EditDate        int64           `json:"edit_date,omitempty"`
	Text            string          `json:"text,omitempty"`
	Entities        []wireEntity    `json:"entities,omitempty"`
	MediaGroupID    string          `json:"media_group_id,omitempty"`
	Document        *wireFile       `json:"document,omitempty"`
	Photo           []wireFile      `json:"photo,omitempty"`
	Voice           *wireFile       `json:"voice,omitempty"`
	Audio           *wireFile       `json:"audio,omitempty"`
	Caption         string          `json:"caption,omitempty"`
	CaptionEntities []wireEntity    `json:"caption_entities,omitempty"`
	ReplyMarkup     json.RawMessage `json:"reply_markup,omitempty"`
}

// wireFile is a Document, PhotoSize, Voice, Audio or File: the fields
// each has are set, the others left empty.
type wireFile struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	Duration     int    `json:"duration,omitempty"`
	FileName     string `json:"file_name,omitempty"`
	MIMEType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
	FilePath     string `json:"file_path,omitempty"`
}

// wireInaccessible is what a callback query carries when its message is gone;
// date 0 is how clients tell it apart from a Message.
type wireInaccessible struct {
	Chat      wireChat `json:"chat"`
	MessageID int64    `json:"message_id"`
	Date      int64    `json:"date"`
}

type wireCallbackQuery struct {
	ID           string   `json:"id"`
	From         wireUser `json:"from"`
	Message      any      `json:"message,omitempty"`
	ChatInstance string   `json:"chat_instance"`
	Data         string   `json:"data,omitempty"`
}

type wireUpdate struct {
	UpdateID      int64              `json:"update_id"`
	Message       *wireMessage       `json:"message,omitempty"`
	CallbackQuery *wireCallbackQuery `json:"callback_query,omitempty"`
	// StoppedMessageGeneration: the user stopped a draft (Bot API 10.3).
	StoppedMessageGeneration *wireStopped `json:"stopped_message_generation,omitempty"`
}

type wireCommand struct {
	Command     string `json:"command"`
	Description string `json:"description"`
}

type wireParameters struct {
	RetryAfter int `json:"retry_after,omitempty"`
}

type wireResponse struct {
	OK          bool            `json:"ok"`
	Result      any             `json:"result,omitempty"`
	ErrorCode   int             `json:"error_code,omitempty"`
	Description string          `json:"description,omitempty"`
	Parameters  *wireParameters `json:"parameters,omitempty"`
}

// apiError is a failed call as Telegram reports it; code is also the HTTP
// status.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func (e *apiError) Error() string { return strconv.Itoa(e.code) + " " + e.desc }

func badRequest(desc string) *apiError {
	return &apiError{code: http.StatusBadRequest, desc: "Bad Request: " + desc}
}

func tooManyRequests(retryAfter int) *apiError {
	return &apiError{
		code:       http.StatusTooManyRequests,
		desc:       "Too Many Requests: retry after " + strconv.Itoa(retryAfter),
		retryAfter: retryAfter,
	}
}

// Errors whose text is fixed.
const (
	descUnauthorized = "Unauthorized"
	descNotFound     = "Not Found"
	descBadGateway   = "Bad Gateway"
	descConflict     = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
	descNotModified  = "message is not modified: specified new message content and reply markup are exactly " +
		"the same as a current content and reply markup of the message"
	descQueryTooOld = "query is too old and response timeout expired or query ID is invalid"
	descTooLarge    = "Request Entity Too Large"
)

// encodeResponse renders a call's outcome; it returns the body and the HTTP
// status.
func encodeResponse(result any, aerr *apiError) ([]byte, int) {
	resp := wireResponse{OK: true, Result: result}
	status := http.StatusOK
	if aerr != nil {
		resp = wireResponse{ErrorCode: aerr.code, Description: aerr.desc}
		if aerr.retryAfter > 0 {
			resp.Parameters = &wireParameters{RetryAfter: aerr.retryAfter}
		}
		status = aerr.code
		if status < 100 || status > 599 {
			status = http.StatusBadRequest
		}
	}
	body, err := json.Marshal(resp)
	if err != nil {
		body, _ = json.Marshal(wireResponse{ErrorCode: 500, Description: "Internal Server Error: " + err.Error()})
		status = http.StatusInternalServerError
	}
	return body, status
}
