package plattrgen

import (
	"errors"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/plattr/plattr/generator/names"
)

// prNumber is a --pr flag: a pull request number written in decimal. pflag's
// IntVar reads "010" as 8 and "0x10" as 16, which would render or delete
// another pull request's preview.
type prNumber int

var _ pflag.Value = (*prNumber)(nil)

func (p *prNumber) String() string { return strconv.Itoa(int(*p)) }

func (p *prNumber) Type() string { return "number" }

func (p *prNumber) Set(s string) error {
	decimal := s != "" && (s == "0" || s[0] != '0')
	for _, r := range s {
		decimal = decimal && r >= '0' && r <= '9'
	}
	if !decimal || len(s) > 7 {
		return errors.New("a pull request number is written in decimal, without sign or leading zeros, such as 42")
	}
	n, _ := strconv.Atoi(s)
	if err := names.PR(n); err != nil {
		return err
	}
	*p = prNumber(n)
	return nil
}
