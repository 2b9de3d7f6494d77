package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// OpenAI calls an OpenAI-compatible chat-completions endpoint
// (POST {BaseURL}/chat/completions). The API key is sent only in the
// Authorization header and is never logged or put on a span.
type OpenAI struct {
	BaseURL  string // e.g. https://api.openai.com/v1
	APIKey   string
	ModelID  string
	Name     string // provider name for telemetry; default "openai"
	HTTP     *http.Client
	MaxBytes int64 // answer size limit; default 4 MiB
}

func (o *OpenAI) Provider() string {
	if o.Name != "" {
		return o.Name
	}
	return "openai"
}

func (o *OpenAI) Model() string { return o.ModelID }

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
}

type chatResponse struct {
	Model   string `json:"model"`
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error,omitempty"`
}

// Complete sends one chat-completions request.
func (o *OpenAI) Complete(ctx context.Context, system, user string) (Completion, error) {
	body, err := json.Marshal(chatRequest{
		Model:       o.ModelID,
		Messages:    []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		Temperature: 0,
	})
	if err != nil {
		return Completion{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.BaseURL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return Completion{}, fmt.Errorf("%w: %v", ErrProvider, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	resp, err := o.HTTP.Do(req)
	if err != nil {
		return Completion{}, fmt.Errorf("%w: %v", ErrProvider, err)
	}
	defer resp.Body.Close()
	limit := o.MaxBytes
	if limit <= 0 {
		limit = 4 << 20
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return Completion{}, fmt.Errorf("%w: reading answer: %v", ErrProvider, err)
	}
	var cr chatResponse
	jsonErr := json.Unmarshal(raw, &cr)
	if resp.StatusCode != http.StatusOK {
		msg := http.StatusText(resp.StatusCode)
		if jsonErr == nil && cr.Error != nil && cr.Error.Message != "" {
			msg = cr.Error.Message
		}
		return Completion{}, fmt.Errorf("%w: status %d: %s", ErrProvider, resp.StatusCode, msg)
	}
	if jsonErr != nil {
		return Completion{}, fmt.Errorf("%w: malformed answer: %v", ErrProvider, jsonErr)
	}
	if len(cr.Choices) == 0 {
		return Completion{}, fmt.Errorf("%w: answer has no choices", ErrProvider)
	}
	return Completion{
		Text:             cr.Choices[0].Message.Content,
		PromptTokens:     cr.Usage.PromptTokens,
		CompletionTokens: cr.Usage.CompletionTokens,
	}, nil
}
