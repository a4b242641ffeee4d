package main

import _ "github.com/annals-dev/annals/store/sqlite"
