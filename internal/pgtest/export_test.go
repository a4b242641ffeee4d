package pgtest

// SchemaName exposes schemaName to the external tests.
var SchemaName = schemaName

// ClusterMode, StartCluster and FindBinaries expose the cluster's
// start-up to the external tests.
var (
	ClusterMode  = clusterMode
	StartCluster = startCluster
	FindBinaries = findBinaries
)
