// seqsim-porcupine: checks a seqsim porcupine.json (written by seqsim-lab and
// seqsim-experiment) with Porcupine, an independent linearizability checker,
// against the same register model as seqsim's own checker (sim/checker/checker.h).
// Built by bench/porcupine/check.sh; see bench/README.md.
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"
)

const absent = math.MinInt64 // the register holds no document

type input struct {
	Op       string `json:"Op"`
	Value    *int64 `json:"Value"`
	Expected *int64 `json:"Expected"`
}

type output struct {
	Ok     bool   `json:"Ok"` // false: indeterminate (timeout, 5xx)
	Value  *int64 `json:"Value"`
	Result string `json:"Result"`
}

type op struct {
	ClientId int    `json:"ClientId"`
	Input    input  `json:"Input"`
	Call     int64  `json:"Call"`
	Output   output `json:"Output"`
	Return   int64  `json:"Return"`
}

func val(v *int64) int64 {
	if v == nil {
		return absent
	}
	return *v
}

// step: one operation on the register; false if it cannot happen in `state`.
func step(state, in, out interface{}) (bool, interface{}) {
	s := state.(int64)
	i := in.(input)
	o := out.(output)
	v := val(i.Value)
	switch i.Op {
	case "read":
		return val(o.Value) == s, s
	case "write":
		return true, v
	case "cas":
		if !o.Ok { // indeterminate: it took effect iff the register matched
			if s == val(i.Expected) {
				return true, v
			}
			return true, s
		}
		if o.Result == "conflict" {
			return s != val(i.Expected), s
		}
		return s == val(i.Expected), v
	case "create":
		if !o.Ok {
			if s == absent {
				return true, v
			}
			return true, s
		}
		if o.Result == "conflict" {
			return s != absent, s
		}
		return s == absent, v
	case "delete":
		if !o.Ok {
			return true, int64(absent)
		}
		if o.Result == "not_found" {
			return s == absent, s
		}
		return s != absent, int64(absent)
	case "update":
		if !o.Ok {
			if s != absent {
				return true, v
			}
			return true, s
		}
		switch o.Result {
		case "noop":
			return s == v, s
		case "not_found":
			return s == absent, s
		}
		return s != absent && s != v, v
	}
	return false, s
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: seqsim-porcupine porcupine.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "seqsim-porcupine:", err)
		os.Exit(2)
	}
	var byKey map[string][]op
	if err := json.Unmarshal(data, &byKey); err != nil {
		fmt.Fprintln(os.Stderr, "seqsim-porcupine: not a porcupine.json:", err)
		os.Exit(2)
	}
	model := porcupine.Model{
		Init:  func() interface{} { return int64(absent) },
		Step:  step,
		Equal: func(a, b interface{}) bool { return a.(int64) == b.(int64) },
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	start := time.Now()
	total, verdict := 0, "linearizable"
	for _, k := range keys {
		ops := make([]porcupine.Operation, 0, len(byKey[k]))
		for _, o := range byKey[k] {
			ops = append(ops, porcupine.Operation{ClientId: o.ClientId, Input: o.Input,
				Call: o.Call, Output: o.Output, Return: o.Return})
		}
		total += len(ops)
		res := porcupine.CheckOperationsTimeout(model, ops, 60*time.Second)
		fmt.Printf("  %s: %d operations: %s\n", k, len(ops), res)
		if res == porcupine.Illegal {
			verdict = "not linearizable"
		} else if res == porcupine.Unknown && verdict == "linearizable" {
			verdict = "unknown"
		}
	}
	fmt.Printf("porcupine: %s (%d operations, %d keys, %.2f s)\n", verdict, total,
		len(keys), time.Since(start).Seconds())
	switch verdict {
	case "linearizable":
		os.Exit(0)
	case "not linearizable":
		os.Exit(1)
	}
	os.Exit(2)
}
