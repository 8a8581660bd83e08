/* Preloaded into SooperLooper (the bench's peer) on a machine with no ALSA sequencer
 * (/dev/snd/seq: a container, a server without sound modules). Debian's SooperLooper opens
 * its MIDI bridge on the sequencer at start; when that fails it still asks the closed
 * sequencer for its poll descriptors, and alsa-lib's assert ends the program. Answered
 * "none" instead, SooperLooper runs without MIDI, which the bench does not use (it drives
 * SooperLooper over OSC).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <poll.h>
#include <stddef.h>

struct _snd_seq;

int snd_seq_poll_descriptors(struct _snd_seq *seq, struct pollfd *pfds, unsigned int space,
                             short events) {
    static int (*real)(struct _snd_seq *, struct pollfd *, unsigned int, short);
    if (seq == NULL)
        return -1;
    if (real == NULL)
        real = (int (*)(struct _snd_seq *, struct pollfd *, unsigned int, short))dlsym(
            RTLD_NEXT, "snd_seq_poll_descriptors");
    return real(seq, pfds, space, events);
}
