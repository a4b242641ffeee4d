// Package httplog serves the global log of a store over HTTP, and reads
// it back in another process as a [store.Log], so that a process that
// holds no credentials of the database (a read model of another service,
// a function run at the edge) follows the log with the same promise as a
// consumer on the store: it never skips an event and never sees one
// twice.
//
// On the side that owns the store, mount a [Handler] behind the
// authentication of the server's other endpoints, and let the server's
// shutdown end the clients' waits:
//
//	h := httplog.NewHandler(st)
//	mux.Handle("/log-api/", http.StripPrefix("/log-api", h))
//	srv.RegisterOnShutdown(h.Close)
//
// On the other side, a projection or saga built on the process's own store
// reads the log through a [Client]; its checkpoint moves in the
// transaction of its own read model:
//
//	src, err := httplog.NewClient("https://orders.internal/log-api", httplog.WithHeader("Authorization", "Bearer "+token))
//	…
//	p, err := annals.NewProjection(local, "order-totals", mapper, handle, annals.WithSource(src))
//	…
//	err = p.Run(ctx)
//
// The records are served as stored: the handler decodes nothing, so a
// payload the codec encrypted stays encrypted on the wire and decodes
// only where its key can be read. The errors of the store cross the wire:
// a request the store refuses fails with [store.ErrInvalid] in the client,
// a corrupt store with [store.ErrCorrupt]; a client never takes a failed
// or cut-off answer for an empty page.
package httplog
