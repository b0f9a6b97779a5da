// Included by the .cc files whose float arithmetic must round after every operation, as in
// Pillow's and torch's builds: the compiler must never fuse a multiply and an add into an FMA
// when the target has one (bit-exactness depends on it).
#pragma once

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__) && defined(__FMA__)
#pragma GCC optimize("fp-contract=off")
#endif
