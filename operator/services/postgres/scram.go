package postgres

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier is the SCRAM-SHA-256 secret PostgreSQL stores for password
// (RFC 5802, RFC 7677): "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>",
// only base64 characters and "$:", so it is safe in a quoted literal whatever
// standard_conforming_strings says, and the password itself never reaches the
// server (nor its log).
//
// The server runs a password through SASLprep first, and uses the raw bytes
// when SASLprep refuses it. Printable ASCII is left as it is and ASCII control
// characters are refused, so for any ASCII password the raw bytes are exactly
// what the server would use; other passwords are refused rather than guessed.
func scramVerifier(password string) (string, error) {
	if password == "" {
		return "", errors.New("the password is empty")
	}
	for i := 0; i < len(password); i++ {
		if password[i] == 0 || password[i] > 0x7e {
			return "", errors.New("the password must be ASCII without NUL")
		}
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	clientKey := hmacSHA256(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := hmacSHA256(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
