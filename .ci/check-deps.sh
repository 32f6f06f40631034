#!/bin/sh
# Enforces the direction of dependencies between the workspace crates (ARCHITECTURE.md):
# protocol and crypto are leaves without async runtimes or databases; storage may use protocol
# only; actors may use protocol and storage; only the server knows HTTP and tokens.
set -eu
fail=0
forbid() { # crate, depth ("" = whole tree), pattern
    crate=$1; depth=$2; pattern=$3
    if [ -z "$depth" ]; then tree=$(cargo tree -p "$crate" -e normal --prefix none --offline 2>/dev/null || cargo tree -p "$crate" -e normal --prefix none)
    else tree=$(cargo tree -p "$crate" -e normal --prefix none --depth "$depth" --offline 2>/dev/null || cargo tree -p "$crate" -e normal --prefix none --depth "$depth"); fi
    hits=$(echo "$tree" | grep -v "^$crate " | grep -E "^($pattern) " || true)
    if [ -n "$hits" ]; then
        echo "dependency rule broken: $crate must not depend on:"; echo "$hits" | sort -u
        fail=1
    fi
}
members=$(cargo metadata --no-deps --format-version 1 | grep -o '"name":"chatalot-[a-z]*"' | sort -u | cut -d'"' -f4)
for m in $members; do
    case $m in
        chatalot-protocol|chatalot-crypto)
            forbid "$m" "" "chatalot-[a-z]+|tokio|actix|actix-web|actix-rt|diesel|diesel-async|biscuit-auth" ;;
        chatalot-storage)
            forbid "$m" 1 "chatalot-(crypto|actors|server)|actix|actix-web|biscuit-auth" ;;
        chatalot-actors)
            forbid "$m" 1 "chatalot-(crypto|server)|actix-web|biscuit-auth" ;;
    esac
done
[ $fail = 0 ] && echo "dependency direction: ok"
exit $fail
