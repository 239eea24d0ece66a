#!/usr/bin/env bash
# Rewrites the README's configuration table from the settings declared in lib/config.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(node bin/redeem.mjs config --markdown)
TABLE="$table" python3 - <<'PY'
import os, re
readme = open('README.md').read()
table = os.environ['TABLE'].strip()
readme = re.sub(r'<!-- config-table:start -->\n.*?\n<!-- config-table:end -->', lambda _: f'<!-- config-table:start -->\n{table}\n<!-- config-table:end -->', readme, flags=re.S)
open('README.md', 'w').write(readme)
PY
