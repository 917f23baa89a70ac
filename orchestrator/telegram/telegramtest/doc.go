// Package telegramtest is a Telegram Bot API server for tests: the daemon's
// telego client talks to it over real HTTP (telego.WithAPIServer(s.URL())),
// and it answers as api.telegram.org does, errors and limits included, so a
// test exercises the same code paths as production.
//
// It implements getMe, getUpdates (offset confirmation, long polling, 409
// when a newer long poll replaces a pending one), sendMessage,
// editMessageText, editMessageReplyMarkup, deleteMessage,
// answerCallbackQuery, setMyCommands, getMyCommands, deleteMyCommands,
// sendChatAction, deleteWebhook and getWebhookInfo, sendMessageDraft (with
// the stopped_message_generation update a test makes with StopDraft;
// Options.NoDrafts answers it 404 as an older server does), and files: sendDocument
// and sendPhoto (multipart/form-data uploads, attach:// or a file_id),
// getFile and downloads at /file/bot<token>/<file_path>. It enforces
// Telegram's rules: 4096 UTF-16 code units per text and 1024 per caption,
// valid entities, "message is not modified", callback queries answered
// within 15 s, flood control (1 message/s per private chat, 20/min per
// group, 30 calls/s overall) answered with 429 and retry_after, and the
// file limits (downloads up to 20 MB, uploads up to 50 MB answered 413
// beyond, photos up to 10 MB with sane dimensions; Options.Local lifts
// them as a local Bot API server does). Tests drive the user's side with
// UserSays, UserSendsFile, UserSendsAlbum and PressButton, inject faults
// with FailNext, SetDown and Stall (calls the server accepts and never
// answers), and observe through Calls, BotMessages, BotFiles, Drafts and
// WaitFor.
//
// Only tests and benchmarks may import it. It imports the standard library
// only: no Telegram client, so it cannot share a client's misreading of the
// API.
package telegramtest
