package postgres

import (
	"context"
	"testing"

	"github.com/plattr/plattr/internal/testenv"
)

// BenchmarkProvisioner_Observe is the steady state's cost: one Observe of an
// app that is provisioned as its Secret says.
func BenchmarkProvisioner_Observe(b *testing.B) {
	pg := testenv.StartPostgres(b)
	p, err := New(pg.AdminURL)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	inst := instance("bench")
	ctx := context.Background()
	creds, err := p.Ensure(ctx, inst, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Delete(ctx, inst) }()
	for b.Loop() {
		if ok, err := p.Observe(ctx, inst, creds); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
