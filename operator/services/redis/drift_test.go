package redis

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProvisioner_ObserveFindsDrift is a person (or a tool) changing an app's
// ACL user by hand: whatever they change, Observe says the user is not as Ensure
// set it, and Ensure sets it back exactly.
func TestProvisioner_ObserveFindsDrift(t *testing.T) {
	p, r := privateSetup(t)
	ctx := context.Background()
	admin := r.Client(t)
	inst := instance("drift")
	user := User(inst.Env, inst.App)
	creds := ensure(t, p, inst, nil)
	app := appClient(t, creds)
	asEnsured := getUser(t, admin, user)

	for name, tc := range map[string]struct {
		rules  []any
		reason string
	}{
		"+@all":                 {[]any{"+@all"}, "every command: SCAN, FUNCTION, FLUSHALL..."},
		"one more command":      {[]any{"+keys"}, "a single widened command"},
		"one command fewer":     {[]any{"-get"}, "narrower is drift too: the app breaks"},
		"a subcommand":          {[]any{"+client|list"}, "subcommands are rules of their own"},
		"all keys":              {[]any{"~*"}, "another key pattern"},
		"all channels":          {[]any{"allchannels"}, "another channel pattern"},
		"nopass":                {[]any{"nopass"}, "any password logs in"},
		"a second password":     {[]any{">another-password"}, "someone else's way in"},
		"a selector":            {[]any{"(~* +@all)"}, "selectors widen a user beside its root rules"},
		"off":                   {[]any{"off"}, "the app cannot log in"},
		"skip-sanitize-payload": {[]any{"skip-sanitize-payload"}, "a flag Ensure does not set"},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, admin.Do(ctx, append([]any{"ACL", "SETUSER", user}, tc.rules...)...).Err())
			require.NotEqual(t, asEnsured, getUser(t, admin, user), "the change took")
			if name == "+@all" {
				require.NoError(t, app.Do(ctx, "SCAN", "0").Err(), "widened, the app may SCAN")
			}
			ok, err := p.Observe(ctx, inst, creds)
			require.NoError(t, err)
			assert.False(t, ok, tc.reason)

			again, err := p.Ensure(ctx, inst, creds)
			require.NoError(t, err)
			assert.Equal(t, creds, again, "the same credentials")
			assert.Equal(t, asEnsured, getUser(t, admin, user), "exactly the rules Ensure sets")
			ok, err = p.Observe(ctx, inst, creds)
			require.NoError(t, err)
			assert.True(t, ok)
			assert.ErrorContains(t, app.Do(ctx, "SCAN", "0").Err(), "NOPERM", "refused again")
		})
	}
}

// TestProvisioner_ObserveIsOneRoundTrip: in steady state Observe sends one
// pipeline per app, and asks Redis how it states the rules only once per server
// run (no ACL SETUSER of a scratch user per Observe).
func TestProvisioner_ObserveIsOneRoundTrip(t *testing.T) {
	p, r := privateSetup(t)
	ctx := context.Background()
	inst := instance("roundtrip")
	creds := ensure(t, p, inst, nil)
	ok, err := p.Observe(ctx, inst, creds) // learns how this server states the rules
	require.NoError(t, err)
	require.True(t, ok)

	c, err := p.admin()
	require.NoError(t, err)
	var trips atomic.Int64
	c.AddHook(countTrips{&trips})
	before := commandCalls(t, r.Client(t))
	for range 5 {
		ok, err := p.Observe(ctx, inst, creds)
		require.NoError(t, err)
		require.True(t, ok)
	}
	after := commandCalls(t, r.Client(t))
	assert.Equal(t, int64(5), trips.Load(), "one round trip per Observe")
	assert.Equal(t, before["acl|setuser"], after["acl|setuser"], "no scratch user once the rules are known")
	assert.Equal(t, before["acl|getuser"]+5, after["acl|getuser"])
}

type countTrips struct{ n *atomic.Int64 }

func (countTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h countTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h countTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// commandCalls is the server's count of calls per command (INFO commandstats).
func commandCalls(t *testing.T, c *goredis.Client) map[string]int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	require.NoError(t, err)
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ",")
		out[name], err = strconv.ParseInt(n, 10, 64)
		require.NoError(t, err, line)
	}
	return out
}
