#!/usr/bin/env bash
# Publishes tools/GpuCheck as a self-contained, trimmed linux-x64 folder that runs without .NET installed
# (e.g. on the GPU machine). Usage: tools/publish-gpu-check.sh [OUTPUT_DIR]   (default: .device-carry/gpu-check)
# Trimming settings live in tools/GpuCheck/GpuCheck.csproj (global -p:PublishTrimmed would also reach the
# netstandard2.0 Specs project, which cannot be trimmed). Fails on trim-analysis warnings (IL2xxx/IL3xxx) and if the folder reaches 64 MiB.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/.device-carry/gpu-check"}
limit_mib=64
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

case "$out" in
  ""|"/"|"$root"|"$HOME") echo "publish-gpu-check: refusing to use '$out' as output" >&2; exit 2 ;;
esac
# Start clean so stale files do not count, but only delete a folder that looks like an earlier publish.
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
  if [ -f "$out/GpuCheck" ] || [ -f "$out/GpuCheck.dll" ]; then rm -rf "$out"
  else echo "publish-gpu-check: $out exists and is not an earlier GpuCheck publish; not touching it" >&2; exit 2; fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! dotnet publish "$root/tools/GpuCheck/GpuCheck.csproj" -c Release -r linux-x64 --self-contained true \
    -p:DebugType=none -p:DebugSymbols=false -p:GenerateDocumentationFile=false \
    -o "$out" 2>&1 | tee "$log"; then
  echo "publish-gpu-check: dotnet publish failed" >&2; exit 1
fi
[ "${PIPESTATUS[0]:-0}" -eq 0 ] || { echo "publish-gpu-check: dotnet publish failed" >&2; exit 1; }

# ILGPU and CoreLib are kept whole (TrimmerRootAssembly in GpuCheck.csproj: ILGPU reads IL and BCL methods by
# reflection) and warn about their own reflection: those lines ("warning IL....: ILGPU." and ": System.") are expected;
# a trim warning anywhere else (our code, other packages) fails the publish.
expected='warning IL[23][0-9]{3}: (ILGPU|System)\.'
if grep -E 'warning IL[23][0-9]{3}' "$log" | grep -vE "$expected" >/dev/null; then
  echo "publish-gpu-check: trim warnings (see above):" >&2
  grep -E 'warning IL[23][0-9]{3}' "$log" | grep -vE "$expected" | sort -u >&2
  exit 1
fi
kept_warnings=$(grep -E "$expected" "$log" | sort -u | wc -l)
if [ "$kept_warnings" -gt 0 ]; then echo "publish-gpu-check: $kept_warnings trim warnings inside ILGPU and CoreLib (kept whole; expected)"; fi

# Drop runtime files that only serve debuggers, crash dumps, LTTng tracing and alternative GCs (about 6 MiB);
# the app runs the same without them. KEEP_DIAGNOSTICS=1 keeps them.
if [ "${KEEP_DIAGNOSTICS:-0}" != "1" ]; then
  for f in createdump libmscordaccore.so libmscordbi.so libcoreclrtraceptprovider.so libclrgc.so libclrgcexp.so; do
    rm -f "$out/$f"
  done
fi

size_kib=$(du -sk "$out" | cut -f1)
size_mib=$(awk -v k="$size_kib" 'BEGIN { printf "%.1f", k / 1024 }')
files=$(find "$out" -type f | wc -l)
echo "publish-gpu-check: $out: $size_mib MiB in $files files (limit $limit_mib MiB)"
if [ "$size_kib" -ge $((limit_mib * 1024)) ]; then
  echo "publish-gpu-check: output is too large" >&2; exit 1
fi
echo "publish-gpu-check: run it with: $out/GpuCheck [--out report.json]"
