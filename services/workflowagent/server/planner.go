package server

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// BuiltinPlanner is the deterministic planner used when no LLM provider is
// configured. It answers in the same JSON the real model is asked for, and
// counts tokens as whitespace-separated words, so the rest of the pipeline
// (parsing, usage reporting) runs the same code either way.
//
// Goals may carry markers for demos and tests: "#fail" adds a step that
// always fails at the start (run failed), "#partial" adds one after the
// first completed step (run partial).
type BuiltinPlanner struct{}

func (BuiltinPlanner) Provider() string { return "builtin" }
func (BuiltinPlanner) Model() string    { return "rule-planner-v1" }

func (BuiltinPlanner) Complete(_ context.Context, system, user string) (Completion, error) {
	goal := strings.TrimSpace(user)
	steps := []planStep{}
	if strings.Contains(goal, "#fail") {
		steps = append(steps, planStep{Name: "validate goal", Action: "fail", Input: "goal asked to fail"})
	}
	steps = append(steps, planStep{Name: "analyze goal", Action: "analyze", Input: goal})
	if strings.Contains(goal, "#partial") {
		steps = append(steps, planStep{Name: "call flaky tool", Action: "fail", Input: "tool unavailable"})
	}
	steps = append(steps,
		planStep{Name: "research context", Action: "research", Input: goal},
		planStep{Name: "draft result", Action: "draft", Input: goal},
	)
	if len(strings.Fields(goal)) > 12 {
		steps = append(steps, planStep{Name: "review draft", Action: "review", Input: goal})
	}
	text, _ := json.Marshal(planAnswer{Steps: steps})
	return Completion{
		Text:             string(text),
		PromptTokens:     len(strings.Fields(system)) + len(strings.Fields(user)),
		CompletionTokens: len(strings.Fields(string(text))) + len(steps)*4,
	}, nil
}

// planAnswer is the JSON the model is asked to answer with.
type planAnswer struct {
	Steps []planStep `json:"steps"`
}

type planStep struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	Input  string `json:"input,omitempty"`
}

const systemPrompt = `You plan work for an AI team. Answer with JSON only: {"steps":[{"name":"...","action":"analyze|research|draft|review","input":"..."}]}. Use 2 to 8 steps.`

// parsePlan reads the model's answer. Models wrap JSON in prose or code
// fences, so the outermost {...} is taken; an answer with no usable JSON
// falls back to one step per non-empty line.
func parsePlan(text string) ([]planStep, error) {
	if i, j := strings.IndexByte(text, '{'), strings.LastIndexByte(text, '}'); i >= 0 && j > i {
		var a planAnswer
		if err := json.Unmarshal([]byte(text[i:j+1]), &a); err == nil && len(a.Steps) > 0 {
			return a.Steps, nil
		}
	}
	var steps []planStep
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "-*0123456789. "))
		if line != "" {
			steps = append(steps, planStep{Name: line, Action: "draft", Input: line})
		}
	}
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: the answer holds no steps", ErrProvider)
	}
	const maxSteps = 20
	if len(steps) > maxSteps {
		steps = steps[:maxSteps]
	}
	return steps, nil
}
