/* fuzz_image_header.c — libFuzzer target for image header parsing and decoding (io/image.c):
 * the JPEG marker walk, EXIF orientation, PNG IHDR/eXIf, and then the full TurboJPEG/libspng
 * decode for headers that pass the checks and stay small (so each input runs in milliseconds).
 * A successful decode must give the dimensions the header promised (swapped for EXIF 5-8). */
#include <stdint.h>
#include <stdlib.h>

#include "io/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    strata_image_info info;
    if (strata_image_probe(data, size, &info) != 0) return 0;
    if ((long long)info.width * info.height > (1 << 20)) return 0;
    strata_image img;
    if (strata_image_decode(data, size, "fuzz", &img) == 0) {
        int swap = info.orientation >= 5;
        if (img.width != (swap ? info.height : info.width) || img.height != (swap ? info.width : info.height))
            abort();
        strata_image_free(&img);
    }
    return 0;
}
