package check

import (
	"fmt"
	"slices"

	"github.com/annals-dev/annals/store"
)

// Tags returns an error matching [store.ErrInvalid] when an event's tags
// cannot be stored: more than [store.MaxTags], an empty one, one longer
// than [store.MaxTagLen] bytes, one that is not valid UTF-8 or holds a NUL
// byte, or one given twice. [Append] calls it for every event.
func Tags(tags []string) error {
	if len(tags) > store.MaxTags {
		return fmt.Errorf("%d tags, the limit is %d: %w", len(tags), store.MaxTags, store.ErrInvalid)
	}
	for i, t := range tags {
		if err := tag(t); err != nil {
			return err
		}
		if slices.Contains(tags[:i], t) {
			return fmt.Errorf("tag %q is given twice: %w", t, store.ErrInvalid)
		}
	}
	return nil
}

func tag(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("a tag is empty: %w", store.ErrInvalid)
	case len(t) > store.MaxTagLen:
		return fmt.Errorf("tag %.32q… is %d bytes, the limit is %d: %w", t, len(t), store.MaxTagLen, store.ErrInvalid)
	case !validText(t):
		return fmt.Errorf("tag %q is not valid UTF-8 or contains a NUL byte: %w", t, store.ErrInvalid)
	}
	return nil
}

// Query returns an error matching [store.ErrInvalid] that says what is
// wrong with q: more than [store.MaxQueryItems] items, an item that names
// neither a type nor a tag, more than [store.MaxItemTypes] types or
// [store.MaxTags] tags in an item, or a type or tag that no event could
// have.
func Query(q store.Query) error {
	if len(q.Items) > store.MaxQueryItems {
		return fmt.Errorf("query has %d items, the limit is %d: %w", len(q.Items), store.MaxQueryItems, store.ErrInvalid)
	}
	for i, it := range q.Items {
		switch {
		case len(it.Types) == 0 && len(it.Tags) == 0:
			return fmt.Errorf("query item %d names no type and no tag; to match every tagged event, use a query with no items (store.QueryAll): %w", i, store.ErrInvalid)
		case len(it.Types) > store.MaxItemTypes:
			return fmt.Errorf("query item %d has %d types, the limit is %d: %w", i, len(it.Types), store.MaxItemTypes, store.ErrInvalid)
		case len(it.Tags) > store.MaxTags:
			return fmt.Errorf("query item %d has %d tags, the limit is %d: %w", i, len(it.Tags), store.MaxTags, store.ErrInvalid)
		}
		for _, typ := range it.Types {
			if err := TypeName(typ); err != nil {
				return fmt.Errorf("query item %d: %w", i, err)
			}
		}
		for _, t := range it.Tags {
			if err := tag(t); err != nil {
				return fmt.Errorf("query item %d: %w", i, err)
			}
		}
	}
	return nil
}

// AppendIf checks the arguments of [store.DCB.AppendIf]: those of
// [Append], the condition's query and position, and a tag on every event,
// since an event without one would be invisible to every query, the
// condition's included.
func AppendIf(streamID string, expected int64, events []store.Event, cond store.AppendCondition) error {
	if err := Append(streamID, expected, events); err != nil {
		return err
	}
	if err := Query(cond.FailIfEventsMatch); err != nil {
		return fmt.Errorf("append to stream %q: condition: %w", streamID, err)
	}
	if cond.After < 0 {
		return fmt.Errorf("append to stream %q: condition after position %d: want a position ≥ 0: %w", streamID, cond.After, store.ErrInvalid)
	}
	for i, e := range events {
		if len(e.Tags) == 0 {
			return fmt.Errorf("append to stream %q: event %d (%s) has no tag: no query could find it, and no condition would see it; give it a tag, or append it with Append: %w", streamID, i, e.Type, store.ErrInvalid)
		}
	}
	return nil
}

// ReadQuery checks the arguments of [store.DCB.ReadQuery].
func ReadQuery(q store.Query, after int64) error {
	if err := Query(q); err != nil {
		return fmt.Errorf("read query: %w", err)
	}
	if after < 0 {
		return fmt.Errorf("read query after position %d: want a position ≥ 0: %w", after, store.ErrInvalid)
	}
	return nil
}
