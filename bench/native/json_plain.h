/* Eight bytes of a JSON string at a time: the test both C results readers (results_json.c,
 * segm_results.c) use to skip the long plain stretches of RLE counts strings. */
#ifndef DETBENCH_JSON_PLAIN_H
#define DETBENCH_JSON_PLAIN_H

#include <stdint.h>
#include <string.h>

/* 1 when none of the 8 bytes at s is a quote, a backslash, a control byte (< 0x20) or, with
 * ascii, a byte >= 0x80: inside a string all 8 are then plain characters. */
static inline int json_plain8(const uint8_t *s, int ascii)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t w, q, b;
    memcpy(&w, s, 8);
    q = w ^ (ones * '"');
    b = w ^ (ones * '\\');
    uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | ((w - ones * 0x20) & ~w);
    return ((hit & highs) | (ascii ? w & highs : 0)) == 0;
}

#endif
