// SPDX-License-Identifier: GPL-2.0
/*
 * hs_consumer2 - a second instance of the test consumer hs_consumer, for
 * cases that need two of its requests pending at once. Same parameters
 * and messages.
 */
#include "hs_consumer.c"
