package pgtest

// SchemaName exposes schemaName to the external tests.
var SchemaName = schemaName
