# Makes docs/contoh/surat-permohonan.pdf, the sample request letter of the README's walk-through:
# one A4 page (PDF 1.4, Helvetica, text only) with placeholder content. Run from the clone:
#   python3 docs/contoh/make-letter.py docs/contoh/surat-permohonan.pdf
import sys

lines = [
    (14, "PEMERINTAH PROVINSI CONTOH"),
    (14, "DINAS KESEHATAN"),
    (9, "Jl. Contoh No. 1, Kota Contoh - telepon (0000) 000000 - dinkes@dinkes.example"),
    (11, ""),
    (11, "Nomor: 000/001/DINKES/2026"),
    (11, "Lampiran: -"),
    (11, "Perihal: Permohonan subdomain sipd.kaltaraprov.go.id"),
    (11, ""),
    (11, "Kepada Yth."),
    (11, "Kepala Dinas Komunikasi dan Informatika"),
    (11, "di tempat"),
    (11, ""),
    (11, "Dengan hormat,"),
    (11, "Bersama ini kami mengajukan permohonan subdomain sipd.kaltaraprov.go.id"),
    (11, "(A 203.0.113.10) untuk Sistem informasi pelayanan kesehatan, sesuai rekomendasi"),
    (11, "nomor REK/045/2026. Penanggung jawab teknis: Andi (andi@dinkes.example)."),
    (11, ""),
    (11, "Demikian permohonan ini kami sampaikan. Atas perhatiannya kami ucapkan terima kasih."),
    (11, ""),
    (11, "Kepala Dinas Kesehatan,"),
    (11, ""),
    (11, "(tanda tangan dan cap)"),
    (11, "NAMA PEJABAT"),
    (11, ""),
    (9, "CONTOH - bukan surat resmi. Disertakan bersama ranah untuk panduan di README."),
]

def esc(t):
    return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

ops = ["BT", "72 770 Td"]
for size, text in lines:
    ops.append(f"/F1 {size} Tf")
    ops.append(f"({esc(text)}) Tj")
    ops.append(f"0 -{size + 7} Td")
ops.append("ET")
stream = ("\n".join(ops) + "\n").encode("latin-1")

objects = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
    b"/Resources << /Font << /F1 5 0 R >> >> >>",
    b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"endstream",
    b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    b"<< /Title (Surat Permohonan Subdomain - contoh) /Producer (ranah) >>",
]
out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
offsets = []
for i, body in enumerate(objects, start=1):
    offsets.append(len(out))
    out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
xref = len(out)
out += f"xref\n0 {len(objects) + 1}\n".encode()
out += b"0000000000 65535 f \n"
for o in offsets:
    out += f"{o:010d} 00000 n \n".encode()
out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
open(sys.argv[1], "wb").write(out)
