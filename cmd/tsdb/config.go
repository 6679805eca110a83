package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// errConfig marks an invalid config file or environment variable; the
// message names the key.
var errConfig = errors.New("invalid configuration")

// envName is a flag's environment variable: TSDB_ and the flag name
// upper-cased with '.' and '-' as '_' (--data-dir → TSDB_DATA_DIR,
// --log.level → TSDB_LOG_LEVEL).
func envName(flag string) string {
	return "TSDB_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(flag))
}

// applyEnvAndConfig fills every flag of fs that was not set on the command
// line from its environment variable, else from the YAML config file
// (keys are the flag names), so the precedence is flag > environment >
// config file > default. An unknown config key, a value a flag refuses,
// or an unreadable file fails naming the key.
func applyEnvAndConfig(fs *pflag.FlagSet, configFile string, lookupEnv func(string) (string, bool)) error {
	var cfg map[string]any
	if configFile != "" {
		raw, err := os.ReadFile(configFile)
		if err != nil {
			return fmt.Errorf("%w: config file: %w", errConfig, err)
		}
		if err := yaml.Unmarshal(raw, &cfg); err != nil {
			return fmt.Errorf("%w: config file %s: %w", errConfig, configFile, err)
		}
		var unknown []string
		for k := range cfg {
			if f := fs.Lookup(k); f == nil || k == "config.file" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%w: config file %s: unknown key %q (keys are the flag names of 'tsdb start', e.g. data-dir, log.level)", errConfig, configFile, unknown[0])
		}
	}
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "config.file" {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %w", errConfig, envName(f.Name), v, e)
			}
			f.Changed = true
			return
		}
		raw, ok := cfg[f.Name]
		if !ok {
			return
		}
		var s string
		switch v := raw.(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case int:
			s = strconv.Itoa(v)
		case float64:
			s = strconv.FormatFloat(v, 'g', -1, 64)
		default:
			err = fmt.Errorf("%w: config file %s: key %q: want a scalar value, got %T", errConfig, configFile, f.Name, raw)
			return
		}
		if e := f.Value.Set(s); e != nil {
			err = fmt.Errorf("%w: config file %s: key %q = %q: %w", errConfig, configFile, f.Name, s, e)
		}
		f.Changed = true
	})
	return err
}
