//go:build coldstart_all

package main

import (
	_ "github.com/annals-dev/annals/store/memory"
	_ "github.com/annals-dev/annals/store/postgres"
)
