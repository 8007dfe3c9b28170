// Package bench is `make bench`: one benchmark, BenchmarkSideBySide, that
// starts the loopback stack (real Vault, STS/IAM fake, IMDS emulators) and
// prints one table of figures measured side by side in the same run:
// xauth-agent against HashiCorp's reference client (cmd/reflogin) where
// both can do the job, and against the goals of issue 6 everywhere.
//
// Run it through make, which builds the binaries first:
//
//	make bench
//	XAUTH_BENCH_FLEET=200 make bench   # a smaller fleet
//
// The package has no code outside its test files; this file only documents
// it.
package bench
