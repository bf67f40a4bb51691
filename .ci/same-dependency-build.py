"""Checks that `cargo xtask run` and `cargo test --workspace --release` share one build of the
dependencies: every dependency artifact the first builds (named by its metadata hash, which
changes with its features) is one the second builds too. Reads the `--message-format=json`
output of both builds."""
import json
import sys


def dependency_artifacts(path):
    artifacts = {}
    for line in open(path):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("reason") != "compiler-artifact" or "path+file" in message["package_id"]:
            continue
        for name in message["filenames"]:
            if name.endswith((".rlib", ".rmeta", ".so")):
                artifacts[name.rsplit("/", 1)[-1]] = message["package_id"]
    return artifacts


main, tests = (dependency_artifacts(p) for p in sys.argv[1:3])
missing = sorted(set(main) - set(tests))
print(f"{len(main)} dependency artifacts for the main command, {len(tests)} for the tests")
if missing:
    print("built for the main command with other features than for the tests:")
    for name in missing:
        print(f"  {name} ({main[name]})")
    sys.exit(1)
