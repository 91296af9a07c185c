package secret_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"

	"github.com/tokend/tokend/internal/secret"
)

var (
	sinkKind    secret.Kind
	sinkBytes   []byte
	sinkStr     string
	sinkDigests [][]byte
)

func BenchmarkClassify(b *testing.B) {
	inputs := []struct{ name, in string }{
		{"api", goldenAPI},
		{"bad checksum", goldenAPI[:49] + "0"},
		{"legacy", goldenLegacy},
		{"wallarm", goldenWallarm},
		{"wallarm bad checksum", goldenWallarm[:63] + "0"},
		{"legacy 128", goldenLegacy + goldenLegacy},
		{"wrong length", "tkd_short"},
	}
	for _, in := range inputs {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkKind = secret.Classify(in.in)
			}
		})
	}
}

func BenchmarkDigest(b *testing.B) {
	master := seqKey("k1", 0)
	kr := mustKeyring(b, master)
	b.Run("pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes = kr.Digest(goldenAPI)
		}
	})
	// The active key of a rotated ring: must cost what one key costs.
	rotated := mustKeyring(b, seqKey("k0", 64), master)
	b.Run("pooled, rotated ring", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkBytes = rotated.Digest(goldenAPI)
		}
	})
	b.Run("lookup digests, 2 keys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sinkDigests = rotated.LookupDigests(goldenAPI)
		}
	})
	// The same construction building a fresh HMAC per call, to show what
	// the pool saves.
	b.Run("hmac.New per call", func(b *testing.B) {
		key := referenceDigestKey(master.Secret)
		b.ReportAllocs()
		for b.Loop() {
			m := hmac.New(sha256.New, key)
			m.Write([]byte(goldenAPI))
			sinkBytes = m.Sum(nil)
		}
	})
}

func BenchmarkNewAPIToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tok, err := secret.NewAPIToken()
		if err != nil {
			b.Fatal(err)
		}
		sinkStr = tok
	}
}

func BenchmarkNewWallarmToken(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		tok, err := secret.NewWallarmToken()
		if err != nil {
			b.Fatal(err)
		}
		sinkStr = tok
	}
}

func BenchmarkSealOpen(b *testing.B) {
	kr := mustKeyring(b, seqKey("k1", 0))
	aad := []byte("token:1")
	b.ReportAllocs()
	for b.Loop() {
		ct, id, _ := kr.Seal(goldenAPI, aad)
		sinkStr, _ = kr.Open(ct, id, aad)
	}
}
