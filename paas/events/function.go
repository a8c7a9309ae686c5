// Package events routes events: each link of a stream delivers the
// stream's events, in order and at least once, through its functions
// (JavaScript, run by goja) to its destination (a webhook, a file). The
// events themselves are in the store; a link's cursor moves only once a
// batch is delivered, so a restart resumes where delivery stopped.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/dop251/goja"
)

// A function is JavaScript whose default export takes (event, context) and
// returns the event (changed or not), an array of events, or nothing (the
// event is dropped); it may be async. It runs in a goja runtime of its own
// with nothing of the host: no require, no file, no network, no timers;
// context.log writes to the platform's log. goja, a pure-Go ES2020
// interpreter, keeps the binary free of cgo and lets a run be interrupted
// at its time limit.

// DefaultFunctionTimeout bounds one call of a function.
const DefaultFunctionTimeout = 100 * time.Millisecond

var exportDefault = regexp.MustCompile(`(?m)^(\s*)export\s+default\s+`)

const entryName = "__paas_default"

// source turns a function's module code into a script that sets entryName.
func source(code string) (string, error) {
	if !exportDefault.MatchString(code) {
		return "", errors.New("the function has no default export: write `export default function (event, context) { … }`")
	}
	return exportDefault.ReplaceAllString(code, "${1}"+entryName+" = "), nil
}

// Check compiles code and reports the first syntax error with its line.
func Check(name, code string) error {
	src, err := source(code)
	if err != nil {
		return err
	}
	if _, err := goja.Compile(name, "var "+entryName+";\n"+src, true); err != nil {
		// goja counts the line the declaration adds.
		var se *goja.CompilerSyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s", shiftLine(se.Error()))
		}
		return err
	}
	return nil
}

var lineRE = regexp.MustCompile(`Line (\d+):(\d+)`)

// shiftLine gives goja's "Line L:C" in the user's lines: the script has
// one line more than the code (the entry's declaration).
func shiftLine(msg string) string {
	return lineRE.ReplaceAllStringFunc(msg, func(m string) string {
		var l, c int
		fmt.Sscanf(m, "Line %d:%d", &l, &c)
		return fmt.Sprintf("line %d, column %d", max(l-1, 1), c)
	})
}

// Function is a compiled function in a runtime of its own; it is not safe
// for concurrent use (a link's worker owns it).
type Function struct {
	ID      string
	vm      *goja.Runtime
	entry   goja.Callable
	ctx     goja.Value
	timeout time.Duration
}

// Compile prepares a function's code to run, calling log for context.log.
func Compile(id, code string, timeout time.Duration, log func(level, msg string)) (*Function, error) {
	src, err := source(code)
	if err != nil {
		return nil, err
	}
	prog, err := goja.Compile(id, "var "+entryName+";\n"+src, true)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultFunctionTimeout
	}
	vm := goja.New()
	vm.SetMaxCallStackSize(512)
	f := &Function{ID: id, vm: vm, timeout: timeout}
	if err := f.guard(func() error { _, err := vm.RunProgram(prog); return err }); err != nil {
		return nil, fmt.Errorf("function %s: %w", id, err)
	}
	entry, ok := goja.AssertFunction(vm.Get(entryName))
	if !ok {
		return nil, fmt.Errorf("function %s: its default export is not a function", id)
	}
	f.entry = entry
	logger := vm.NewObject()
	for _, level := range []string{"debug", "info", "warn", "error"} {
		_ = logger.Set(level, func(call goja.FunctionCall) goja.Value {
			if log != nil {
				msg := ""
				for i, a := range call.Arguments {
					if i > 0 {
						msg += " "
					}
					msg += a.String()
				}
				log(level, msg)
			}
			return goja.Undefined()
		})
	}
	c := vm.NewObject()
	_ = c.Set("log", logger)
	f.ctx = c
	return f, nil
}

// guard runs fn with the time limit: a run past it is interrupted.
func (f *Function) guard(fn func() error) error {
	t := time.AfterFunc(f.timeout, func() { f.vm.Interrupt("time limit exceeded") })
	defer func() {
		t.Stop()
		f.vm.ClearInterrupt()
	}()
	return fn()
}

// Run calls the function on event (a JSON object) and returns the events it
// makes: none (dropped), one or several. A throw, a rejected promise, a
// result that is not an object, or the time limit is an error.
func (f *Function) Run(event []byte) ([][]byte, error) {
	var in any
	if err := json.Unmarshal(event, &in); err != nil {
		return nil, err
	}
	var out goja.Value
	err := f.guard(func() error {
		v, err := f.entry(goja.Undefined(), f.vm.ToValue(in), f.ctx)
		out = v
		return err
	})
	if err != nil {
		var ie *goja.InterruptedError
		if errors.As(err, &ie) {
			return nil, fmt.Errorf("function %s: time limit (%s) exceeded", f.ID, f.timeout)
		}
		return nil, fmt.Errorf("function %s: %w", f.ID, err)
	}
	if p, ok := out.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			out = p.Result()
		case goja.PromiseStateRejected:
			return nil, fmt.Errorf("function %s: rejected: %v", f.ID, p.Result())
		default:
			return nil, fmt.Errorf("function %s: its promise never settled (functions have no I/O to wait for)", f.ID)
		}
	}
	if out == nil || goja.IsUndefined(out) || goja.IsNull(out) {
		return nil, nil
	}
	var results []any
	switch v := out.Export().(type) {
	case []any:
		results = v
	case map[string]any:
		results = []any{v}
	default:
		return nil, fmt.Errorf("function %s: returned %T, not an event (an object), an array of events, or nothing", f.ID, v)
	}
	var outs [][]byte
	for _, r := range results {
		if _, ok := r.(map[string]any); !ok {
			return nil, fmt.Errorf("function %s: returned an array holding %T, not events", f.ID, r)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("function %s: its result: %w", f.ID, err)
		}
		outs = append(outs, b)
	}
	return outs, nil
}
