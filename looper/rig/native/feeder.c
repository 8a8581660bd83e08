/* The soak's native JACK client: no interpreter, no garbage collector, nothing between
 * the JACK cycle and the work but a few loops, so what it counts is the machine's.
 *
 *   feeder feed [options]  plays a signal into the client under test (out_1..out_N),
 *                          reads what comes back (in_1..in_N), sends scheduled stomps on
 *                          its MIDI port `pedal`;
 *   feeder pass [options]  a pass-through with the same port shape (in_k -> out_k, and a
 *                          MIDI input `midi_in` it drains): the baseline client under test.
 *
 * Options: -n NAME (client name), -s SECONDS (0: until SIGINT/SIGTERM), -c CHANNELS,
 *   -i FILE (raw float32, CHANNELS interleaved, played in a loop; default a 440 Hz sine
 *   at -20 dBFS), -o PORT (connect out_k to it, k-th -o), -r PORT (connect it to in_k),
 *   -m FRAME:NOTE (stomp NOTE at FRAME frames after the first cycle in which `pedal` is
 *   connected, so the listener is there; released 100 ms later; up to 64), -M PORT
 *   (connect `pedal` to it; a looper connects itself).
 *
 * While it runs it prints a line per xrun, with the seconds since it started (from its
 * main loop, which polls the count every 10 ms); at exit one line, the one the rig parses
 * (looper/rig/feeder.py):
 *   feeder MODE: B blocks of F frames at R Hz, X xruns, input peak P, heard H blocks,
 *   S stomps sent
 * Blocks and xruns are counted in the process and xrun callbacks (jack_set_xrun_callback:
 * every xrun the server reports to its clients, whoever caused it); both callbacks only
 * add to counters and read preallocated buffers.
 */
#include <errno.h>
#include <jack/jack.h>
#include <jack/midiport.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHANNELS 8
#define MAX_STOMPS 64

static jack_client_t *client;
static jack_port_t *outs[MAX_CHANNELS], *ins[MAX_CHANNELS], *midi;
static int channels = 2, feed;
static float *signal_data;       /* frames x channels, interleaved */
static long signal_frames, position;
static long long frame, blocks, heard, stomps_sent;
static volatile long long xruns;
static float peak;
static long stomp_at[MAX_STOMPS];
static unsigned char stomp_note[MAX_STOMPS];
static int stomps, next_on, next_off;
static long long pedal_origin = -1; /* the frame its pedal was first connected: stomps count from it */
static long release_frames;
static volatile sig_atomic_t stop;

static int on_xrun(void *arg) {
    (void)arg;
    xruns++;
    return 0;
}

static void send_stomps(void *buffer, jack_nframes_t n) {
    jack_midi_clear_buffer(buffer);
    if (pedal_origin < 0) {
        if (!jack_port_connected(midi))
            return;
        pedal_origin = frame;
    }
    /* note-ons and note-offs, each in frame order; a block holds few, so interleave */
    while (next_on < stomps || next_off < next_on) {
        long long on = next_on < stomps ? pedal_origin + stomp_at[next_on] : -1;
        long long off = next_off < next_on ? pedal_origin + stomp_at[next_off] + release_frames : -1;
        int take_on = on >= 0 && (off < 0 || on <= off);
        long long at = take_on ? on : off;
        if (at >= frame + (long long)n)
            break;
        long long offset = at < frame ? 0 : at - frame;
        unsigned char message[3] = {take_on ? 0x90 : 0x80,
                                    stomp_note[take_on ? next_on : next_off],
                                    take_on ? 127 : 0};
        jack_midi_event_write(buffer, (jack_nframes_t)offset, message, 3);
        if (take_on) {
            next_on++;
            stomps_sent++;
        } else {
            next_off++;
        }
    }
}

static int process(jack_nframes_t n, void *arg) {
    (void)arg;
    float *in[MAX_CHANNELS], *out[MAX_CHANNELS];
    for (int c = 0; c < channels; c++) {
        in[c] = jack_port_get_buffer(ins[c], n);
        out[c] = jack_port_get_buffer(outs[c], n);
    }
    if (feed) {
        int loud = 0;
        for (jack_nframes_t i = 0; i < n; i++) {
            const float *row = signal_data + (size_t)position * channels;
            for (int c = 0; c < channels; c++) {
                out[c][i] = row[c];
                float v = fabsf(in[c][i]);
                if (v > peak)
                    peak = v;
                loud |= v > 0.0f;
            }
            if (++position == signal_frames)
                position = 0;
        }
        heard += loud;
        send_stomps(jack_port_get_buffer(midi, n), n);
    } else {
        for (int c = 0; c < channels; c++)
            memcpy(out[c], in[c], n * sizeof(float));
        (void)jack_port_get_buffer(midi, n); /* drained: nothing reads it */
    }
    frame += n;
    blocks++;
    return 0;
}

static void on_signal(int sig) {
    (void)sig;
    stop = 1;
}

static int fail(const char *what) {
    fprintf(stderr, "feeder: %s\n", what);
    return 2;
}

static int load_signal(const char *path, jack_nframes_t rate) {
    if (path == NULL) {
        signal_frames = rate; /* one second of 440 Hz: a whole number of cycles */
        signal_data = malloc(sizeof(float) * (size_t)signal_frames * channels);
        if (signal_data == NULL)
            return -1;
        for (long i = 0; i < signal_frames; i++)
            for (int c = 0; c < channels; c++)
                signal_data[i * channels + c] = 0.1f * sinf(2.0f * (float)M_PI * 440.0f * i / rate);
        return 0;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    signal_frames = bytes / (long)(sizeof(float) * channels);
    signal_data = signal_frames > 0 ? malloc(sizeof(float) * (size_t)signal_frames * channels) : NULL;
    int ok = signal_data != NULL &&
             fread(signal_data, sizeof(float) * channels, (size_t)signal_frames, f) ==
                 (size_t)signal_frames;
    fclose(f);
    return ok ? 0 : -1;
}

/* Connect `from` to `to`, waiting up to 30 s for `theirs` (the other client's port) to
 * appear; 0 when connected (or stopped meanwhile), else -1 with a message. */
static int connect_when_there(const char *from, const char *to, const char *theirs) {
    for (int tries = 0; tries < 3000 && !stop; tries++) {
        if (jack_port_by_name(client, theirs) != NULL) {
            int rc = jack_connect(client, from, to);
            if (rc == 0 || rc == EEXIST)
                return 0;
            fprintf(stderr, "feeder: cannot connect %s to %s (error %d)\n", from, to, rc);
            return -1;
        }
        usleep(10000);
    }
    if (stop)
        return 0;
    fprintf(stderr, "feeder: cannot connect %s to %s: %s is not there after 30 s\n", from, to,
            theirs);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "feed") != 0 && strcmp(argv[1], "pass") != 0))
        return fail("usage: feeder feed|pass [-n NAME] [-s SECONDS] [-c CHANNELS] [-i FILE] "
                    "[-o PORT]... [-r PORT]... [-m FRAME:NOTE]... [-M PORT]");
    feed = strcmp(argv[1], "feed") == 0;
    const char *name = feed ? "feeder" : "pass", *input = NULL;
    const char *to[MAX_CHANNELS], *from[MAX_CHANNELS], *pedal_to = NULL;
    int n_to = 0, n_from = 0;
    double seconds = 0;
    int opt;
    optind = 2;
    while ((opt = getopt(argc, argv, "n:s:c:i:o:r:m:M:")) != -1) {
        switch (opt) {
        case 'n': name = optarg; break;
        case 's': seconds = atof(optarg); break;
        case 'c': channels = atoi(optarg); break;
        case 'i': input = optarg; break;
        case 'o': if (n_to < MAX_CHANNELS) to[n_to++] = optarg; break;
        case 'r': if (n_from < MAX_CHANNELS) from[n_from++] = optarg; break;
        case 'M': pedal_to = optarg; break;
        case 'm':
            if (stomps == MAX_STOMPS || sscanf(optarg, "%ld:%hhu", &stomp_at[stomps],
                                               &stomp_note[stomps]) != 2)
                return fail("-m takes FRAME:NOTE, at most 64 of them");
            stomps++;
            break;
        default: return fail("unknown option");
        }
    }
    if (channels < 1 || channels > MAX_CHANNELS)
        return fail("-c takes 1 to 8 channels");
    for (int i = 1; i < stomps; i++)
        if (stomp_at[i] < stomp_at[i - 1])
            return fail("-m stomps must be given in frame order");
    jack_status_t status;
    client = jack_client_open(name, JackNoStartServer | JackUseExactName, &status);
    if (client == NULL)
        return fail("cannot open a JACK client: is the server running, and is its name in "
                    "JACK_DEFAULT_SERVER? (or the client name is taken)");
    jack_nframes_t rate = jack_get_sample_rate(client);
    release_frames = rate / 10;
    if (feed && load_signal(input, rate) != 0)
        return fail("cannot read the signal file (raw float32, CHANNELS interleaved)");
    for (int c = 0; c < channels; c++) {
        char port[32];
        snprintf(port, sizeof port, "out_%d", c + 1);
        outs[c] = jack_port_register(client, port, JACK_DEFAULT_AUDIO_TYPE, JackPortIsOutput, 0);
        snprintf(port, sizeof port, "in_%d", c + 1);
        ins[c] = jack_port_register(client, port, JACK_DEFAULT_AUDIO_TYPE, JackPortIsInput, 0);
    }
    midi = jack_port_register(client, feed ? "pedal" : "midi_in", JACK_DEFAULT_MIDI_TYPE,
                              feed ? JackPortIsOutput : JackPortIsInput, 0);
    jack_set_process_callback(client, process, NULL);
    jack_set_xrun_callback(client, on_xrun, NULL);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    if (jack_activate(client) != 0)
        return fail("cannot activate the JACK client");
    int wired = 0;
    for (int k = 0; k < n_to && k < channels; k++)
        wired |= connect_when_there(jack_port_name(outs[k]), to[k], to[k]);
    for (int k = 0; k < n_from && k < channels; k++)
        wired |= connect_when_there(from[k], jack_port_name(ins[k]), from[k]);
    if (pedal_to != NULL && feed)
        wired |= connect_when_there(jack_port_name(midi), pedal_to, pedal_to);
    if (wired != 0) { /* a soak with a port left unconnected would measure nothing */
        jack_client_close(client);
        return 2;
    }
    printf("feeder %s: running as %s\n", argv[1], jack_get_client_name(client));
    fflush(stdout);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long long told = 0;
    while (!stop) {
        usleep(10000);
        clock_gettime(CLOCK_MONOTONIC, &now);
        double elapsed = (now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9;
        for (long long seen = xruns; told < seen; told++) {
            printf("feeder %s: xrun %lld at %.2f s\n", argv[1], told + 1, elapsed);
            fflush(stdout);
        }
        if (seconds > 0 && elapsed >= seconds)
            break;
    }
    jack_deactivate(client);
    printf("feeder %s: %lld blocks of %u frames at %u Hz, %lld xruns, input peak %.3f, "
           "heard %lld blocks, %lld stomps sent\n",
           argv[1], blocks, jack_get_buffer_size(client), rate, (long long)xruns, peak, heard,
           stomps_sent);
    jack_client_close(client);
    return 0;
}
