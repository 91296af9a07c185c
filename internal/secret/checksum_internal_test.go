package secret

import "testing"

// Known answers computed independently (Python).
func TestEncodeChecksum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		crc  uint32
		want string
	}{
		{0, "000000"},
		{61, "00000z"},
		{62, "000010"},
		{1<<32 - 1, "4gfFC3"},
	}
	for _, tt := range tests {
		if got := encodeChecksum(tt.crc); string(got[:]) != tt.want {
			t.Errorf("encodeChecksum(%d) = %q, want %q", tt.crc, got, tt.want)
		}
	}
}

func TestClassifyDoesNotAllocate(t *testing.T) {
	// Not parallel: testing.AllocsPerRun refuses parallel tests.
	tok, err := NewAPIToken()
	if err != nil {
		t.Fatal(err)
	}
	wallarm, err := NewWallarmToken()
	if err != nil {
		t.Fatal(err)
	}
	legacy := "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
	for _, s := range []string{tok, tok[:49] + "0", legacy, "", wallarm, wallarm[:63] + "0",
		legacy + legacy, legacy[:40], "tkd_" + legacy[4:]} {
		if n := testing.AllocsPerRun(100, func() { Classify(s) }); n != 0 {
			t.Errorf("Classify(%q) allocates %v times, want 0", s, n)
		}
	}
}
