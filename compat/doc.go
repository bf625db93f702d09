// Package compat holds the tests that run unchanged Redis session stores,
// in Node.js, Python and Go, against a real three-node sessionraft cluster
// (internal/testcluster), doing what an application does with them, and
// redis-benchmark against a node. It has no code of its own beyond those
// tests.
//
// It is a module of its own so that the stores' libraries (scs, gorilla
// sessions, redistore, redigo) stay out of the server's go.mod: nothing in
// sessionraft depends on them, and a user of the server or of its Go
// client should not download them. The server under test is built from
// the parent module with that module's own dependency versions (or taken
// from $SESSIONRAFT_TEST_BIN).
//
// The Node.js scripts are in js/ (packages pinned by js/package-lock.json;
// install them with "npm ci" there) and the Python ones in py/ (Debian's
// python3-redis, python3-flask-session, python3-django and
// python3-django-redis). A store whose runtime or packages are missing is
// skipped with a message saying what to install; .ci/run installs them
// all.
package compat
