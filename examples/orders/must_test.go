package main

// mustShop returns sh, or panics with err.
func mustShop(sh *Shop, err error) *Shop {
	if err != nil {
		panic(err)
	}
	return sh
}
