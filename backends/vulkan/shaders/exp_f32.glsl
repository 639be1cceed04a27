// exp_f32.glsl -- an f32 exp close to 1 ulp, for ops that must match the
// C library's expf (swiglu). GLSL's exp() is only held to 3 + 2|x| ulp on
// Vulkan, which costs ~1e-6 relative in silu for |x| of tens.
//
// exp(x) = 2^n * exp(r), n = round(x / ln2), r = x - n*ln2 with ln2 split in
// two constants (Cody-Waite): C1 has 9 significant bits, so n*C1 is exact
// for |n| <= 150 and r carries no rounding from the reduction beyond n*C2.
// exp(r) on |r| <= ln2/2 is a degree-7 polynomial (1 + r + r^2 * P(r), with
// P's minimax coefficients), relative error ~1e-7. The scaling 2^n is done
// as two exact powers of two so that n = 128 (result just below FLT_MAX)
// and n < -126 (subnormal results) stay right. `precise` keeps the
// compiler from contracting into fma, so every device rounds alike.
#ifndef DSV3_EXP_F32_GLSL
#define DSV3_EXP_F32_GLSL

float dsv3_exp_f32(float x) {
    if (isnan(x)) return x;
    if (x > 88.72283935546875) return uintBitsToFloat(0x7f800000u); // above ln(FLT_MAX)
    if (x < -103.972076416015625) return 0.0;                       // below ln(smallest subnormal / 2)
    precise float t = x * 1.44269504088896341 + 0.5;
    float fn = floor(t);
    int n = int(fn);
    precise float r = x - fn * 0.693359375;
    r = r - fn * -2.12194440e-4;
    precise float p = 1.9875691500e-4;
    p = p * r + 1.3981999507e-3;
    p = p * r + 8.3334519073e-3;
    p = p * r + 4.1665795894e-2;
    p = p * r + 1.6666665459e-1;
    p = p * r + 5.0000001201e-1;
    precise float e = p * (r * r) + r + 1.0;
    int n1 = n / 2, n2 = n - n1; // each in [-75, 64]: 2^n1, 2^n2 are normal floats
    precise float s = e * intBitsToFloat((n1 + 127) << 23);
    s = s * intBitsToFloat((n2 + 127) << 23);
    return s;
}

#endif
