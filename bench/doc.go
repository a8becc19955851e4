// Package bench is lbkit's cross-algorithm harness: benchmarks and checks
// that run lbkit's algorithms side by side with peer implementations (such
// as github.com/dgryski/go-maglev) on the same inputs, so that benchstat can
// compare them, plus the Envoy-equivalent suite. It holds only tests;
// nothing imports it.
//
// Run it briefly on a shared machine, for example:
//
//	go test ./bench -run '^$' -bench Maglev -benchtime=300ms -count=3
//
// and compare implementations with benchstat -col /impl.
package bench
