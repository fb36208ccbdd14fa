/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (1.78 and later) imports
 * ProcessPrng from it, and a Windows binary without it dies at load with c0000135. Real
 * Windows 10 and later have it. Built by the Windows test with MinGW into a throwaway
 * WINEPREFIX under target/ (REFERENCE §10); never shipped. */
#include <windows.h>

/* RtlGenRandom, exported by advapi32 under this name. */
BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x7fffffff ? 0x7fffffff : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
