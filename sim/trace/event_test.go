package trace

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{0: "Kind(0)", Add: "add", Ready: "ready", Unready: "unready", Remove: "remove", 9: "Kind(9)"} {
		assert.Equal(t, want, k.String())
		got, ok := parseKind(want)
		assert.Equal(t, k >= Add && k <= Remove, ok)
		if ok {
			assert.Equal(t, k, got)
		}
	}
}

func TestValidate(t *testing.T) {
	e := func(at time.Duration, k Kind, endpoint string) Event {
		return Event{At: at, Kind: k, Endpoint: endpoint}
	}
	tests := []struct {
		name   string
		events []Event
		kind   error
		msg    string
	}{
		{"empty", nil, nil, ""},
		{"full life", []Event{e(0, Add, "a"), e(1, Ready, "a"), e(1, Unready, "a"), e(2, Ready, "a"), e(3, Remove, "a"), e(3, Add, "a")}, nil, ""},
		{"interleaved", []Event{e(0, Add, "a"), e(0, Add, "b"), e(1, Ready, "b"), e(1, Remove, "a"), e(2, Remove, "b")}, nil, ""},
		{"backwards", []Event{e(0, Add, "a"), e(time.Second, Add, "b"), e(time.Millisecond, Add, "c")}, ErrOrder, "trace: event 2: time 1ms is before 1s of event 1"},
		{"negative", []Event{e(-time.Second, Add, "a")}, ErrSyntax, "trace: event 0: negative time -1s"},
		{"empty endpoint", []Event{e(0, Add, "")}, ErrSyntax, "trace: event 0: empty endpoint"},
		{"bad kind", []Event{e(0, 5, "a")}, ErrSyntax, "trace: event 0: invalid kind Kind(5)"},
		{"ready unknown", []Event{e(0, Ready, "a")}, ErrOrder, `trace: event 0: ready of unknown endpoint "a" (add it first)`},
		{"unready unknown", []Event{e(0, Add, "a"), e(0, Unready, "b")}, ErrOrder, `trace: event 1: unready of "b", which is not ready`},
		{"remove after remove", []Event{e(0, Add, "a"), e(0, Remove, "a"), e(0, Remove, "a")}, ErrOrder, `trace: event 2: remove of unknown endpoint "a"`},
		{"invalid utf-8", []Event{e(0, Add, "a\xff")}, ErrSyntax, `trace: event 0: endpoint "a\xff" holds a comma, space, control character or invalid UTF-8`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.events)
			if tt.kind == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.msg, err.Error())
			assert.True(t, strings.HasPrefix(err.Error(), "trace: "))
		})
	}
}

func TestCheckName(t *testing.T) {
	// checkName looks at ASCII byte by byte; it agrees with the rune test
	// it had before.
	for r := rune(0); r < 0x3100; r++ {
		for _, s := range []string{string(r), "a" + string(r), string(r) + "é", "é" + string(r)} {
			assert.Equal(t, oldCheckName("x", s), checkName("x", s), "%q", s)
		}
	}
	for b := range 256 {
		s := "10.0.0.1" + string([]byte{byte(b)})
		assert.Equal(t, oldCheckName("x", s), checkName("x", s), "%q", s)
	}
}

func FuzzCheckName(f *testing.F) {
	f.Add("10.0.0.1:80")
	f.Add("a\xffb")
	f.Add("zone\u00a0a")
	f.Fuzz(func(t *testing.T, s string) {
		require.Equal(t, oldCheckName("x", s), checkName("x", s))
	})
}
