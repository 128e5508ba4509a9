package main

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": ""}
	cases := []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"$(A)", "alpha"},
		{"x$(A)y$(A)", "xalphayalpha"},
		{"$(B)", "$(A)"}, // values are not expanded twice
		{"$(EMPTY)-", "-"},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$alpha"},
		{"$$$$", "$$"},
		{"$(A", "$(A"},
		{"$(A$(A)", "$(A$(A)"}, // name "A$(A" is unknown, kept as written
		{"$A", "$A"},
		{"a$", "a$"},
		{"$", "$"},
		{"$()", "$()"},
		{"$(A)$", "alpha$"},
	}
	for _, c := range cases {
		if got := expand(c.in, mapLookup(vars)); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
