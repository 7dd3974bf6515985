package keycloak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/plattr/plattr/operator/services"
)

// Client secrets rotate through Keycloak's own secret rotation: with the
// client-secret-rotation feature on and a client policy whose secret-rotation
// executor applies to the client, "Regenerate secret" keeps the previous
// secret valid as the client's rotated secret, which Retire invalidates once no
// pod uses it. Plattr puts that policy (RotationPolicy) into an environment's
// realm when an app there first rotates; nothing changes in a realm before.

// RotationPolicy names the client profile and the client policy that Plattr
// keeps in its realms for rotation.
const RotationPolicy = "plattr-secret-rotation"

// RotatedSecretLifetime is how long Keycloak keeps a previous secret valid
// after a rotation, at most: a rollout that has not finished by then leaves
// its old pods with a secret Keycloak refuses. SecretLifetime is how long a
// secret lives under the policy: Keycloak refuses a secret older than that
// (rotate sooner; spec.credentials.every does). Keycloak counts both in
// seconds as 32-bit integers added to the time, so neither may be so long
// that the sum overflows.
const (
	RotatedSecretLifetime = 7 * 24 * time.Hour
	SecretLifetime        = 4 * 365 * 24 * time.Hour
)

var _ services.Rotator = (*Provisioner)(nil)

// rotationExecutor is the executor's configuration, in seconds.
func rotationExecutor() PolicyExecutor {
	cfg, _ := json.Marshal(map[string]int{
		"expiration-period":         int(SecretLifetime / time.Second),
		"rotated-expiration-period": int(RotatedSecretLifetime / time.Second),
		"remaining-rotation-period": 0,
	})
	return PolicyExecutor{Executor: "secret-rotation", Configuration: cfg}
}

// sameExecutor compares executor configurations by value: Keycloak may give
// back numbers as strings.
func sameExecutor(got []PolicyExecutor, want PolicyExecutor) bool {
	if len(got) != 1 || got[0].Executor != want.Executor {
		return false
	}
	read := func(raw json.RawMessage) map[string]string {
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		out := map[string]string{}
		for k, v := range m {
			switch v := v.(type) {
			case float64:
				out[k] = strconv.FormatInt(int64(v), 10)
			default:
				out[k] = fmt.Sprint(v)
			}
		}
		return out
	}
	a, b := read(got[0].Configuration), read(want.Configuration)
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// ensureRotationPolicy puts Plattr's secret-rotation profile and policy into
// realm (the realm's other profiles and policies are kept as they are). A
// Keycloak without the feature refuses the profile: nothing is rotated.
func (p *Provisioner) ensureRotationPolicy(ctx context.Context, realm string) error {
	profiles, err := p.kc.ClientProfiles(ctx, realm)
	if err != nil {
		return err
	}
	want := ClientProfile{Name: RotationPolicy, Description: "Plattr: a regenerated secret keeps the previous one valid until Plattr retires it",
		Executors: []PolicyExecutor{rotationExecutor()}}
	i := indexOf(profiles, func(pr ClientProfile) bool { return pr.Name == RotationPolicy })
	if i < 0 || !sameExecutor(profiles[i].Executors, want.Executors[0]) {
		if i < 0 {
			profiles = append(profiles, want)
		} else {
			profiles[i] = want
		}
		if err := p.kc.SetClientProfiles(ctx, realm, profiles); err != nil {
			var se *StatusError
			if errors.As(err, &se) && se.Status == 400 {
				return fmt.Errorf("keycloak refused a secret-rotation client profile in %s (start Keycloak with --features=client-secret-rotation): %w; the secret was not rotated", realm, services.ErrInvalid)
			}
			return err
		}
	}
	policies, err := p.kc.ClientPolicies(ctx, realm)
	if err != nil {
		return err
	}
	policy := ClientPolicy{Name: RotationPolicy, Description: want.Description, Enabled: true,
		Conditions: []PolicyCondition{{Condition: "client-access-type", Configuration: json.RawMessage(`{"type":["confidential"]}`)}},
		Profiles:   []string{RotationPolicy}}
	j := indexOf(policies, func(po ClientPolicy) bool { return po.Name == RotationPolicy })
	if j >= 0 && policies[j].Enabled && len(policies[j].Profiles) == 1 && policies[j].Profiles[0] == RotationPolicy && len(policies[j].Conditions) == 1 &&
		policies[j].Conditions[0].Condition == "client-access-type" {
		return nil
	}
	if j < 0 {
		policies = append(policies, policy)
	} else {
		policies[j] = policy
	}
	return p.kc.SetClientPolicies(ctx, realm, policies)
}

func indexOf[T any](list []T, match func(T) bool) int {
	for i, v := range list {
		if match(v) {
			return i
		}
	}
	return -1
}

// Rotate implements services.Rotator: Keycloak regenerates the client's
// secret and keeps the current one as its rotated secret. Run again after a
// crash, it finds the rotation done (the current secret rotated) and returns
// the new secret without another.
func (p *Provisioner) Rotate(ctx context.Context, inst services.Instance, current services.Credentials) (services.Credentials, error) {
	want, err := p.desired(inst)
	if err != nil {
		return nil, err
	}
	realm := Realm(inst.Env)
	got, err := p.kc.FindClient(ctx, realm, want.ClientID)
	if err != nil {
		return nil, err
	}
	if got == nil {
		return nil, fmt.Errorf("client %s is not in realm %s: nothing to rotate", want.ClientID, realm)
	}
	old := string(current[KeySecret])
	secret, err := p.kc.ClientSecret(ctx, realm, got.ID)
	if err != nil {
		return nil, err
	}
	creds := func(secret string) services.Credentials {
		return services.Credentials{KeyIssuer: []byte(p.issuer(inst.Env)), KeyClientID: []byte(want.ClientID), KeySecret: []byte(secret)}
	}
	if secret != old {
		// Rotated before a crash kept the result: the app's secret is the
		// rotated one.
		if rotated, err := p.kc.RotatedSecret(ctx, realm, got.ID); err != nil || rotated != old || old == "" {
			return nil, errors.Join(err, fmt.Errorf("the secret of client %s in Keycloak is not the app's, nor is the app's kept valid: not rotated (the service is put right first)", want.ClientID))
		}
		return creds(secret), nil
	}
	if err := p.ensureRotationPolicy(ctx, realm); err != nil {
		return nil, err
	}
	next, err := p.kc.RegenerateSecret(ctx, realm, got.ID)
	if err != nil {
		return nil, err
	}
	rotated, err := p.kc.RotatedSecret(ctx, realm, got.ID)
	if err == nil && rotated == old {
		return creds(next), nil
	}
	// Keycloak did not keep the previous secret: put it back at once, so the
	// pods that have it log in again.
	want.ID, want.Secret = got.ID, old
	putBack := p.kc.UpdateClient(ctx, realm, want)
	return nil, errors.Join(err, putBack, fmt.Errorf("keycloak did not keep the previous secret of client %s valid beside the new one: the previous secret was put back; check that Keycloak runs with --features=client-secret-rotation and that the %s client policy of realm %s is enabled: %w", want.ClientID, RotationPolicy, realm, services.ErrInvalid))
}

// Retire implements services.Rotator: the client's rotated secret goes when
// it is previous; otherwise Keycloak keeps nothing of previous.
func (p *Provisioner) Retire(ctx context.Context, inst services.Instance, current, previous services.Credentials) error {
	if err := p.usable(inst); err != nil {
		return err
	}
	realm := Realm(inst.Env)
	got, err := p.kc.FindClient(ctx, realm, inst.App)
	if err != nil || got == nil {
		return ignoreNotFound(err)
	}
	rotated, err := p.kc.RotatedSecret(ctx, realm, got.ID)
	if err != nil || rotated == "" || rotated != string(previous[KeySecret]) {
		return err
	}
	return p.kc.InvalidateRotatedSecret(ctx, realm, got.ID)
}
