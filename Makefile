# Thin wrapper over the scripts, which are the README's commands.
.PHONY: all check bench mutants clean
all:
	scripts/build.sh
check:
	scripts/check.sh
bench:
	bench/run.sh $(ARGS)
mutants:
	scripts/mutants.sh $(ARGS)
clean:
	rm -rf build build-asan build-tsan build-ucontext build-clang build-bench build-*.build.log
