// Package upcast turns stored payloads of old schema versions into the
// current one before they are decoded.
//
// Events are stored for years while the code that reads them changes. A
// payload is stored with its type name and schema version; when the shape
// of a type changes, its schema version goes up, and a [Registry] holds the
// steps that bring an old payload forward, one version at a time:
//
//	r := upcast.New().
//		Add("AccountOpened", 1, upcast.RenameField("owner", "holder")). // v1 → v2
//		Add("AccountOpened", 2, addCurrency).                          // v2 → v3
//		Rename("Deposited", "MoneyDeposited")                          // old type name
//
// [Registry.Upcast] runs the chain from the stored version to the current
// version that the decoder reports through a [Target], so a v1 payload goes
// through v1→v2 and then v2→v3. A step is registered for exactly one
// version and leads to exactly the next one, so a chain never skips a
// version: if a step is missing, or the stored version is newer than the
// current one, Upcast fails with an error that matches [ErrSchemaVersion]
// and names the type and the versions.
//
// # Renames
//
// [Registry.Rename] maps an old type name to its new name at every
// version; [Registry.RenameAt] maps one version of an old name to a chosen
// version of the new name, for a type that was renamed when its schema
// changed. A step registered for the exact (name, version) of a payload
// takes precedence over a name-wide rename, so that an old name can still
// be upcast before it is renamed.
//
// # Snapshots
//
// Snapshots of aggregate state are stored with the state's type name and
// schema version, and are upcast by the same mechanism: register steps
// under the state's type name. Keep event and state type names distinct
// when one registry serves both.
//
// # Payloads as JSON
//
// A step is a [Func] over the stored bytes, so any encoding can be upcast.
// For JSON, [JSON] edits the top-level object as a map of raw values, and
// [RenameField] renames one field in a line.
//
// The package is pure: it does no I/O and holds no state beyond the
// registry the caller builds. A Registry is safe for concurrent use once
// its steps are registered.
package upcast
