#!/bin/sh
# The README's "Using weft", done as a user would: install to a temporary
# prefix and build and run one program three ways, with
#   pkg-config --cflags --libs weft      (the installed .pc, for any prefix,
#                                          found there by its rpath)
#   pkg-config --static ...              (against libweft.a alone)
#   -I P/include -L P/lib -lweft -pthread (plain flags; LD_LIBRARY_PATH)
# then move the prefix and build again (the .pc finds it from where it
# lies), and configure without libunwind: its .pc must not name it.
# usage: install_test.sh BUILD_DIR SOURCE_DIR CC
set -eu
build=$1 src=$2 cc=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$build" --prefix "$tmp/p" >/dev/null || fail "install"
pc=$(find "$tmp/p" -name weft.pc) || true
[ -n "$pc" ] || fail "no weft.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
cat >"$tmp/app.c" <<'C'
#include <stdio.h>
#include <weft.h>

static void square(void *arg) {
  weft_chan *c = arg;
  int v;
  weft_recv(c, &v);
  v *= v;
  weft_send(c, &v);
}

int main(void) {
  weft_chan *c = weft_chan_make(sizeof(int), 0);
  int v = 12;
  weft_go(square, c);
  weft_send(c, &v);
  weft_recv(c, &v);
  printf("%d\n", v);
  weft_chan_unref(c);
  return v == 144 ? 0 : 1;
}
C
expect_144() { # binary [env...]
  out=$("$@") || fail "$* exited $?"
  [ "$out" = 144 ] || fail "$* printed '$out'"
}

# 1. pkg-config, shared: the rpath in the .pc finds libweft.so.0.
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs weft) ||
  fail "pkg-config weft"
case $flags in *"$tmp/p"*) ;; *) fail "flags do not name the prefix: $flags" ;; esac
"$cc" -o "$tmp/a1" "$tmp/app.c" $flags || fail "build with pkg-config"
expect_144 "$tmp/a1"

# 2. pkg-config --static, against libweft.a alone.
cp -r "$tmp/p" "$tmp/s"
find "$tmp/s" -name 'libweft.so*' -exec rm {} +
spc=$(dirname "$(find "$tmp/s" -name weft.pc)")
sflags=$(PKG_CONFIG_PATH=$spc pkg-config --static --cflags --libs weft) ||
  fail "pkg-config --static weft"
"$cc" -o "$tmp/a2" "$tmp/app.c" $sflags || fail "build with --static"
! ldd "$tmp/a2" | grep -q libweft || fail "a2 still links libweft.so"
expect_144 "$tmp/a2"

# 3. Plain flags, as the README's comment says.
"$cc" -o "$tmp/a3" -I"$tmp/p/include" "$tmp/app.c" -L"$libdir" -lweft \
  -pthread || fail "build with -lweft -pthread"
expect_144 env LD_LIBRARY_PATH="$libdir" "$tmp/a3"

# 4. The prefix moved: the .pc follows it.
mv "$tmp/p" "$tmp/moved"
mpc=$(dirname "$(find "$tmp/moved" -name weft.pc)")
mflags=$(PKG_CONFIG_PATH=$mpc pkg-config --cflags --libs weft)
case $mflags in *"$tmp/moved"*) ;; *) fail "moved prefix not followed: $mflags" ;; esac
"$cc" -o "$tmp/a4" "$tmp/app.c" $mflags || fail "build from the moved prefix"
expect_144 "$tmp/a4"

# 5. Without libunwind the .pc names no libunwind.
cmake -S "$src" -B "$tmp/nounwind" -DWEFT_LIBUNWIND=OFF -DWEFT_TESTS=OFF \
  -DWEFT_EXAMPLES=OFF -DWEFT_BENCH=OFF >/dev/null || fail "configure"
! grep -q unwind "$tmp/nounwind/weft.pc" || fail "weft.pc names libunwind"
echo "install test: ok"
