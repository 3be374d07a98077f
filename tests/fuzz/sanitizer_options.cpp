// Defaults the sanitizer runtimes read at start-up, compiled into the fuzz
// test so that ctest and a direct run (a longer one, say) behave the same.
// Environment variables (ASAN_OPTIONS, ...) still override them. Without a
// sanitizer these functions are never called.

extern "C" {

// A report ends the run at once, with a stack, so the request in flight
// (printed by the test's death callback) is the one that caused it.
const char* __asan_default_options() { return "abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0"; }

// UBSan's runtime does not call ASan's death callback; aborting raises
// SIGABRT, whose handler prints the request instead.
const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1:abort_on_error=1"; }

}  // extern "C"
