#!/usr/bin/env bash
# Rewrites the configuration table in docs/configuration.md from the settings declared in lib/config.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(node bin/redeem.mjs config --markdown)
TABLE="$table" python3 - <<'PY'
import os, re
path = 'docs/configuration.md'
page = open(path).read()
table = os.environ['TABLE'].strip()
page = re.sub(r'<!-- config-table:start -->\n.*?\n<!-- config-table:end -->', lambda _: f'<!-- config-table:start -->\n{table}\n<!-- config-table:end -->', page, flags=re.S)
open(path, 'w').write(page)
PY
