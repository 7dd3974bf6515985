package generator

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	plattrv1 "github.com/plattr/plattr/operator/api/v1alpha1"
)

// Gates are an environment's entry rules: what a release must show before it
// is promoted into the environment. plattr-gen promote checks them with the
// deployments the operator records on the app's repository.
type Gates struct {
	// Soak is how long the release must have run successfully (its GitHub
	// deployment's success) in the environment before this one: 30m, 2h, 1d.
	Soak string `json:"soak,omitempty"`
	// Freeze lists windows in which nothing is promoted into the environment.
	Freeze []Freeze `json:"freeze,omitempty"`
	// Warn makes the gates warn instead of block: the pull request opens and
	// passes, and its body says what did not hold.
	Warn bool `json:"warn,omitempty"`
}

// Freeze is a recurring window: it opens at each time of Start (a cron
// schedule: minute hour day-of-month month day-of-week, in TimeZone) and lasts
// Duration.
type Freeze struct {
	Start    string `json:"start"`
	Duration string `json:"duration"`
	// TimeZone is an IANA name such as Europe/Berlin (default UTC).
	TimeZone string `json:"timeZone,omitempty"`
	// Reason is shown to whoever promotes during it.
	Reason string `json:"reason,omitempty"`
}

// MaxFreezes bounds an environment's freeze windows.
const MaxFreezes = 20

// SoakTime is the soak the gates ask for (0: none).
func (g *Gates) SoakTime() time.Duration {
	if g == nil || g.Soak == "" {
		return 0
	}
	d, _ := plattrv1.ParseDuration(g.Soak) // checked by the config's validation
	return d
}

// check validates the gates, naming the field.
func (g *Gates) check() error {
	if g == nil {
		return nil
	}
	if g.Soak != "" {
		if _, err := plattrv1.ParseDuration(g.Soak); err != nil {
			return fmt.Errorf("soak: %w", err)
		}
	}
	if len(g.Freeze) > MaxFreezes {
		return fmt.Errorf("freeze: %d windows, at most %d", len(g.Freeze), MaxFreezes)
	}
	for i, f := range g.Freeze {
		if _, err := f.schedule(); err != nil {
			return fmt.Errorf("freeze[%d]: %w", i, err)
		}
		if d, err := plattrv1.ParseDuration(f.Duration); err != nil || d == 0 {
			return fmt.Errorf("freeze[%d].duration: %q is not a duration such as 30m, 2h or 1d", i, f.Duration)
		}
		if len(f.Reason) > 200 || strings.ContainsAny(f.Reason, "\r\n") {
			return fmt.Errorf("freeze[%d].reason: one line of at most 200 characters", i)
		}
	}
	return nil
}

func (f Freeze) schedule() (cron.Schedule, error) {
	tz := f.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.ContainsAny(tz, " \t\r\n") || tz == "Local" {
		return nil, fmt.Errorf("timeZone: %q is not a time zone such as Europe/Berlin", f.TimeZone)
	}
	if strings.Contains(f.Start, "TZ=") {
		return nil, fmt.Errorf("start: %q: give the time zone in timeZone", f.Start)
	}
	s, err := cron.ParseStandard(f.Start)
	if err != nil {
		return nil, fmt.Errorf("start: %q is not a cron schedule (minute hour day-of-month month day-of-week, such as \"0 18 * * FRI\"): %v", f.Start, err)
	}
	if sp, ok := s.(*cron.SpecSchedule); ok {
		sp.Location = loc
	}
	return s, nil
}

// Active says whether now is inside the window, and when the window closes.
func (f Freeze) Active(now time.Time) (bool, time.Time) {
	s, err := f.schedule()
	if err != nil {
		return false, time.Time{}
	}
	d, _ := plattrv1.ParseDuration(f.Duration)
	// The first opening after now-d opens the only window that can still
	// hold now (it closes after now): it does if it is not after now.
	start := s.Next(now.Add(-d))
	if start.IsZero() || start.After(now) {
		return false, time.Time{}
	}
	// Windows longer than the schedule's period overlap: the freeze lasts
	// until the last one open now closes.
	end := start.Add(d)
	for next := s.Next(start); !next.IsZero() && !next.After(now); next = s.Next(next) {
		end = next.Add(d)
	}
	return true, end
}
