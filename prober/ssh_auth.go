package prober

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"

	"github.com/vigie-monitoring/vigie/config"
)

// sshAuthMethods returns what the probe may authenticate with, reading
// password_file and private_key_file now, on every probe, so that they can
// be rotated without a reload.
func sshAuthMethods(cfg *config.SSHProbe) ([]sshMethod, error) {
	switch {
	case cfg.PrivateKeyFile != "":
		signer, err := sshSigner(cfg)
		if err != nil {
			return nil, err
		}
		return []sshMethod{{name: "publickey", method: ssh.PublicKeys(signer)}}, nil
	case cfg.Password != "" || cfg.PasswordFile != "":
		password, err := convReadPassword(cfg.Password, cfg.PasswordFile)
		if err != nil {
			return nil, err
		}
		// Servers that check passwords through PAM often offer only
		// keyboard-interactive: answer its hidden prompts with the password.
		answer := func(_, _ string, questions []string, echos []bool) ([]string, error) {
			answers := make([]string, len(questions))
			for i := range questions {
				if !echos[i] {
					answers[i] = password
				}
			}
			return answers, nil
		}
		return []sshMethod{
			{name: "password", method: ssh.Password(password)},
			{name: "keyboard-interactive", method: ssh.KeyboardInteractive(answer)},
		}, nil
	}
	return nil, nil
}

// sshSigner reads and decrypts the private key.
func sshSigner(cfg *config.SSHProbe) (ssh.Signer, error) {
	pemBytes, err := os.ReadFile(cfg.PrivateKeyFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read private_key_file: %w", err)
	}
	var signer ssh.Signer
	if cfg.PrivateKeyPassphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pemBytes, []byte(cfg.PrivateKeyPassphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pemBytes)
	}
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
		return signer, nil
	case errors.As(err, &missing):
		return nil, fmt.Errorf("private_key_file %s is encrypted: set private_key_passphrase", cfg.PrivateKeyFile)
	case errors.Is(err, x509.IncorrectPasswordError):
		return nil, fmt.Errorf("wrong private_key_passphrase for %s", cfg.PrivateKeyFile)
	}
	return nil, fmt.Errorf("cannot parse private_key_file %s: %w", cfg.PrivateKeyFile, err)
}
