// Command cart is a small shop built on Annals the way its README builds
// one: shopping carts and orders are deciders, a checkout saga turns a
// checked-out cart into an order, and a SQL read model counts the orders
// of each customer. All of it runs as one system on one store.
//
// # Running it
//
//	go run ./examples/cart
//
// opens the store that ANNALS_STORE names (by default the SQLite file
// annals-cart.db in the temporary directory, which every run adds to),
// runs the system in async mode and plays a short session: ada fills her
// cart, is refused a sixth item, swaps one, checks out and is refused an
// item after checkout; bob buys a book; the warehouse ships ada's order
// and cancels bob's. With no ANNALS_CIPHER_KEY it prints:
//
//	store sqlite, async mode, events encrypted with key "demo"
//	ada adds apple at 1.20: 1 item, 1.20
//	ada adds pear at 0.90: 2 items, 2.10
//	ada adds fig at 2.50: 3 items, 4.60
//	ada adds apple at 1.20: 4 items, 5.80
//	ada adds plum at 0.60: 5 items, 6.40
//	ada adds kiwi at 0.75: refused, add "kiwi" to a cart of 5 items: a cart holds at most 5 items (still 5 items, 6.40)
//	ada removes pear: 4 items, 5.50
//	ada adds kiwi at 0.75: 5 items, 6.25
//	ada checks out: 5 items, 6.25
//	ada adds fig at 2.50: refused, cart is checked out (still 5 items, 6.25)
//	bob adds book at 12.00: 1 item, 12.00
//	bob checks out: 1 item, 12.00
//	ada's order: placed, 5 items, 6.25
//	bob's order: placed, 1 item, 12.00
//	the warehouse ships ada's order: shipped
//	the warehouse cancels bob's order: cancelled
//	ada's cart as stored: 8 events (aes256gcm:demo), latest snapshot at version 6 (aes256gcm:demo)
//	orders per customer (SQL read model):
//	  ada: 1 order (1 shipped, 0 cancelled), 5 items, 6.25
//	  bob: 1 order (0 shipped, 1 cancelled), 0 items, 0.00
//
// On standard error it says which store it opened when ANNALS_STORE is
// not set, and warns that the demo key protects nothing. Carts and
// customers get IDs that are new on every run, so a run on a store that
// earlier runs filled prints the same, and so does a run on a
// PostgreSQL URL, but for the store's name on its first line. With
// ANNALS_STORE=memory: the shop runs without its read
// model, since the memory store has no SQL tables, and says so.
//
// # Carts and orders (cart.go, order.go)
//
// [CartDecider] holds at most [MaxItems] items: a sixth is refused with
// [ErrFull], and a rejection stores nothing. After [Checkout] a cart is
// terminal and refuses everything ([ErrCheckedOut]). [OrderDecider] places
// an order once, then ships or cancels it once. Each command decides in a
// method of its own and each event evolves the state in one, so neither
// decider needs a type switch. Every cart is the stream "cart-" + its ID;
// the order placed for it is "order-" + the same ID.
//
// # The checkout saga (checkout.go)
//
// [CheckoutSaga] reacts to [CheckedOut] with a [PlaceOrder]. It reads the
// log through a codec that registers CheckedOut alone, so it gets that
// event typed. Its dispatcher (in shop.go) takes the cart ID from the
// stream of the event, since a decider's events do not know their stream,
// and handles the command with the cause's options: its idempotency key
// places the order once however often the checkout is replayed, and the
// checkout is recorded as its causation.
//
// # The read model (customers.go)
//
// The projection [CustomerOrders] keeps a table, customer_orders, of one
// row per order, created by its first migration (annals.WithSchema) and
// written in the transaction that moves its checkpoint. It folds each
// typed order event into its row with the order decider's Evolve.
// [Shop.Customers] sums the rows by customer. A handler takes its
// adapter's own transaction, *sql.Tx on SQLite and pgx.Tx on PostgreSQL,
// so the read model has a handler for each, around the same SQL, written
// in what the two dialects share; the shop tries the SQLite one, and on
// store.ErrUnsupported the PostgreSQL one.
//
// # How events are stored (codecs.go)
//
// Every event and every snapshot goes through a codec.NewMapper pipeline
// that encrypts it with AES-256-GCM under the key in ANNALS_CIPHER_KEY
// (codec.KeyringFromEnv; a fixed demo key, with a warning, when it is
// unset). CartItemAdded is at schema version 2; version 1 held the price
// as text, and [Upcasters] turns such records into version 2 as they are
// read. Carts are snapshotted every [SnapshotEvery] events, and a cart
// loads from its latest snapshot and the events after it.
//
// # Wiring (shop.go)
//
// [NewShop] takes the store handle that annals.Open returned and a mode,
// builds the two runners, the saga and the projection on it, and adds the
// consumers to one annals.System. Tests run it in Sync mode on the memory
// store, where every command returns once the saga and the read model have
// handled what followed from it, and on sqlite::memory: for the read
// model; main runs it in Async mode, where System.Run runs the consumers
// in goroutines and System.WaitQuiet waits for them to catch up.
package main
