// Package tlsconf is the cluster identity of sessionraft nodes: it loads the
// cluster CA, a node's certificate and key, builds TLS 1.3 configurations for
// mutual authentication on the internal port, and issues certificates.
//
// # Identity convention
//
// A node's id is carried in its certificate as exactly one URI subject
// alternative name
//
//	sessionraft://node/<id>
//
// with <id> path-escaped (url.PathEscape rules), so any id of 1..255 bytes of
// printable UTF-8 fits. Host names and IP addresses in the certificate (DNS
// and IP SANs) are for clients of the client port; nodes identify each other
// by the node id only, never by host name, because advertised addresses may
// be wildcards, NAT-ed or reused by another node after a restart. The common
// name repeats the id for people reading the certificate; it is not
// consulted. Client certificates (operators, tools) carry
// sessionraft://client/<name> instead and no node URI, so one can never pass
// as a node on the internal port even though it chains to the same CA.
//
// Node certificates have both the server and the client extended key usage
// (a node accepts and dials); client certificates only the client one.
//
// # Reloading
//
// A Store holds the current material (CA pool, certificate and key) behind an
// atomic pointer. Every new handshake reads it, so Reload (called by the
// server on SIGHUP) takes effect for new connections at once while
// established connections keep working: TLS never looks at the files again
// after the handshake. Reload validates everything before switching (files
// parse, key matches certificate, certificate chains to the new CA bundle and
// is valid now, the node id is unchanged); on any error the old material
// stays in use. To rotate the CA, first deploy a bundle holding the old and
// the new CA on every node and reload, then the new node certificates, then
// a bundle with only the new CA.
//
// Session resumption is disabled so that every connection is verified
// against the material current at its handshake.
//
// # Client port
//
// ClientPort is the smaller, separate identity of the client (RESP) port:
// TLS 1.2 or later for Redis clients, any certificate (with the host names
// clients dial), client certificates required only when a CA bundle is
// given, reloadable the same way.
package tlsconf
