package server

import (
	"context"
	"errors"
)

// Completion is one LLM answer with its token counts.
type Completion struct {
	Text             string
	PromptTokens     int
	CompletionTokens int
}

// LLM is a chat model that turns a prompt into text.
type LLM interface {
	// Provider names who serves the model ("openai", "builtin", ...).
	Provider() string
	// Model names the model.
	Model() string
	Complete(ctx context.Context, system, user string) (Completion, error)
}

// ErrProvider wraps failures of the LLM provider (network, 5xx, bad answer).
var ErrProvider = errors.New("llm provider failed")
