package compat

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// scriptStores are the stores in other languages, each a script that runs
// an application with the store and drives it (see js/ and py/).
func scriptStores() []sessionStore {
	js := func(name, lib, resp string) sessionStore {
		return sessionStore{
			name: name,
			skip: nodeMissing,
			run: func(t *testing.T, r storeRun) string {
				return runScript(t, r, "js", []string{"node", "connect_redis.mjs"}, "SR_LIB="+lib, "SR_RESP="+resp)
			},
			kept: checkConnectRedisSession,
		}
	}
	py := func(name, script string, modules ...string) sessionStore {
		return sessionStore{
			name: name,
			skip: func() string { return pythonMissing(modules...) },
			run: func(t *testing.T, r storeRun) string {
				return runScript(t, r, "py", []string{python(modules...), script})
			},
		}
	}
	return []sessionStore{
		js("connect-redis-node-redis5-resp2", "redis5", "2"),
		js("connect-redis-node-redis6-resp3", "redis", "3"),
		py("flask-session", "flask_session_check.py", "redis", "flask", "flask_session"),
		py("django-redis-cache-sessions", "django_session_check.py", "redis", "django", "django_redis"),
	}
}

func nodeMissing() string {
	if _, err := exec.LookPath("node"); err != nil {
		return "node not installed (apt-get install nodejs npm): the connect-redis stores are skipped"
	}
	if _, err := os.Stat(filepath.Join("js", "node_modules", "connect-redis")); err != nil {
		return "compat/js/node_modules missing (run: cd compat/js && npm ci): the connect-redis stores are skipped"
	}
	return ""
}

// python returns the interpreter that has the modules: Debian's
// /usr/bin/python3, where the packages .ci/run installs live, before any
// other python3 on PATH (a pyenv shim, say).
func python(modules ...string) string {
	cands := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		cands = append(cands, p)
	}
	for _, p := range cands {
		args := []string{"-c", "import sys\nfor m in sys.argv[1:]: __import__(m)"}
		if exec.Command(p, append(args, modules...)...).Run() == nil {
			return p
		}
	}
	return ""
}

func pythonMissing(modules ...string) string {
	if python(modules...) == "" {
		return "no python3 with the modules " + strings.Join(modules, ", ") +
			" (apt-get install python3-redis python3-flask-session python3-django python3-django-redis): skipped"
	}
	return ""
}
