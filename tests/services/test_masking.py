"""Non-solicitation masking (app/services/masking.py): a disguise corpus, a technical corpus, unit tests."""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from app.services.masking import MASK, Finding, Masked, mask_contacts

# (sentence, the contact detail in it). A case counts as detected when every character of
# the detail is inside a finding.
DISGUISED: list[tuple[str, str]] = [
    # E-mail addresses, plain and disguised
    ("Please send the drawings to jane.doe@acme-molding.de before Friday.", "jane.doe@acme-molding.de"),
    ("My private mail is j.doe1984@gmail.com if the portal is slow.", "j.doe1984@gmail.com"),
    ("Write me: jane.doe at gmail dot com and I will answer tonight.", "jane.doe at gmail dot com"),
    ("Contact: jane(at)acme-molding(dot)de", "jane(at)acme-molding(dot)de"),
    ("jane [at] acmemolding [dot] de is my direct address", "jane [at] acmemolding [dot] de"),
    ("My address: n a m e @ g m a i l . c o m", "n a m e @ g m a i l . c o m"),
    ("Reach me via jane_doe AT outlook DOT com for the quote.", "jane_doe AT outlook DOT com"),
    ("Send it to j.doe {at} web {dot} de", "j.doe {at} web {dot} de"),
    ("Meine Adresse: max.mustermann at web punkt de", "max.mustermann at web punkt de"),
    ("Schreib mir an max(ät)firma(punkt)de, dann geht es schneller.", "max(ät)firma(punkt)de"),
    ("Mail an m.mueller [at] kunststoff-technik [punkt] de", "m.mueller [at] kunststoff-technik [punkt] de"),
    ("jane dot doe at acme dot com is the one to use", "jane dot doe at acme dot com"),
    ("the address is jane-at-acme-dot-com", "jane-at-acme-dot-com"),
    ("mail: jane.doe <at> gmx <dot> net", "jane.doe <at> gmx <dot> net"),
    ("Schick die Datei an info@kunststoff-mueller.at bitte.", "info@kunststoff-mueller.at"),
    ("Use JaneDoe@ProtonMail.com, I check it daily.", "JaneDoe@ProtonMail.com"),
    ("You can also write to jane.doe at gmail, faster than here.", "jane.doe at gmail"),
    ("meine mail: j.doe (at) gmx", "j.doe (at) gmx"),
    ("email me at jane . doe @ acme . de", "jane . doe @ acme . de"),
    ("Address j_doe＠gmail．com (full-width characters)", "j_doe＠gmail．com"),
    ("Try jane.doe@acme-molding.co.uk for the UK office.", "jane.doe@acme-molding.co.uk"),
    ("my mail: jdoe#at#yahoo#dot#com", "jdoe#at#yahoo#dot#com"),
    ("Ping me on jane.doe(at)acme.com", "jane.doe(at)acme.com"),
    ("Schreiben Sie mir: vorname.nachname at t-online punkt de", "vorname.nachname at t-online punkt de"),
    ("Please cc jd@acme.io as well.", "jd@acme.io"),
    ("mail j d o e @ a c m e . d e", "j d o e @ a c m e . d e"),
    ("Send to jane.doe[@]gmail[.]com", "jane.doe[@]gmail[.]com"),
    ("Here: jane.doe@gmail.com.", "jane.doe@gmail.com"),
    ("My work mail is doe at acme-plastics dot eu", "doe at acme-plastics dot eu"),
    ("Privat: hans.meier (at) freenet (dot) de", "hans.meier (at) freenet (dot) de"),
    ("mail to  jane.doe @gmail.com", "jane.doe @gmail.com"),
    ("JANE.DOE AT GMAIL DOT COM", "JANE.DOE AT GMAIL DOT COM"),
    ("the mailbox jane_doe_88 at hotmail dot co dot uk", "jane_doe_88 at hotmail dot co dot uk"),
    ("Kontakt jan\u200b.doe@gmail.com (with a hidden space)", "jan\u200b.doe@gmail.com"),
    ("write to jane@acme and I will forward it", "jane@acme"),
    ("send CVs to hr(at)acme-molding(dot)de", "hr(at)acme-molding(dot)de"),
    ("my email: jane.doe (at) acme (.) de", "jane.doe (at) acme (.) de"),
    ("E-Mail: stefan.k at gmx dot net", "stefan.k at gmx dot net"),
    # Phone numbers, plain and disguised
    ("Call me on +49 170 123 45 67 tomorrow morning.", "+49 170 123 45 67"),
    ("My mobile: 0170 - 1234567", "0170 - 1234567"),
    ("Ruf mich an: 0 1 7 0 - 1 2 3 4 5 6 7", "0 1 7 0 - 1 2 3 4 5 6 7"),
    ("call zero one seven zero one two three four five six seven",
     "zero one seven zero one two three four five six seven"),
    ("meine Nummer: null eins sieben null eins zwei drei vier fünf sechs sieben",
     "null eins sieben null eins zwei drei vier fünf sechs sieben"),
    ("plus four nine one seven zero, one two three, four five six seven",
     "plus four nine one seven zero, one two three, four five six seven"),
    ("Tel. +49 (0) 711 / 123 456-78", "+49 (0) 711 / 123 456-78"),
    ("whatsapp me on +44 7700 900123", "+44 7700 900123"),
    ("Handy 0151.2345.6789", "0151.2345.6789"),
    ("reach me at 0049 30 12345678", "0049 30 12345678"),
    ("mobil: 0172/9876543", "0172/9876543"),
    ("Call 555-123-4567 (US office)", "555-123-4567"),
    ("My number is (0170) 1234567.", "(0170) 1234567"),
    ("Nummer: 0170 eins zwei drei 45 67", "0170 eins zwei drei 45 67"),
    ("Tel: plus vier neun, eins sieben null, neun acht sieben sechs fünf vier drei",
     "plus vier neun, eins sieben null, neun acht sieben sechs fünf vier drei"),
    ("just dial 01701234567", "01701234567"),
    ("You can text me: 0 one 7 zero 12 three 4 five 67", "0 one 7 zero 12 three 4 five 67"),
    ("phone +1 (415) 555-0132", "+1 (415) 555-0132"),
    ("WhatsApp: +49-151-23456789", "+49-151-23456789"),
    ("call zero double seven one two three four five six seven", "zero double seven one two three four five six seven"),
    ("Durchwahl 089 / 12 34 56 - 78", "089 / 12 34 56 - 78"),
    ("Mobilnummer +43 664 1234567", "+43 664 1234567"),
    ("my cell is 07700 900 123", "07700 900 123"),
    ("+49 170 1234567", "+49 170 1234567"),
    ("erreichbar unter null eins fünf eins, zwei drei vier fünf sechs sieben acht",
     "null eins fünf eins, zwei drei vier fünf sechs sieben acht"),
    ("call me: O17O 1234567", "O17O 1234567"),
    ("ring me on 020 7946 0958", "020 7946 0958"),
    ("Telefon: 0 7 1 1 / 9 8 7 6 5 4", "0 7 1 1 / 9 8 7 6 5 4"),
    ("reach me on fifteen one two three four five six seven eight", "fifteen one two three four five six seven eight"),
    ("signal +49 160 9876 5432", "+49 160 9876 5432"),
    ("my phone: +41 79 123 45 67", "+41 79 123 45 67"),
    ("call me, 0176-98765432", "0176-98765432"),
    ("Telegram +7 916 123-45-67", "+7 916 123-45-67"),
    ("+49 (170) 12 34 567", "+49 (170) 12 34 567"),
    ("ruf an: 0170–123 45 67", "0170–123 45 67"),
    ("zero-one-seven-zero-one-two-three-four-five-six-seven", "zero-one-seven-zero-one-two-three-four-five-six-seven"),
    ("meine Handynummer lautet 0160 99 88 77 66", "0160 99 88 77 66"),
    ("Festnetz 030 12345678", "030 12345678"),
    # Links
    ("See my portfolio on www.jane-doe-engineering.com", "www.jane-doe-engineering.com"),
    ("https://calendly.com/jane-doe/30min for a direct call", "https://calendly.com/jane-doe/30min"),
    ("Our site: acme-molding.de", "acme-molding.de"),
    ("more at example dot com", "example dot com"),
    ("check foo.de for my CV", "foo.de"),
    ("I am on linkedin.com/in/jane-doe-4711", "linkedin.com/in/jane-doe-4711"),
    ("Profil: xing.com/profile/Jane_Doe2", "xing.com/profile/Jane_Doe2"),
    ("http://jdoe.example.org/contact", "http://jdoe.example.org/contact"),
    ("message me: wa.me/491701234567", "wa.me/491701234567"),
    ("t.me/janedoe is faster", "t.me/janedoe"),
    ("Details unter www punkt kunststoff-mueller punkt de", "www punkt kunststoff-mueller punkt de"),
    ("my site jane-doe dot io", "jane-doe dot io"),
    ("Visit WWW.ACME-MOLDING.DE", "WWW.ACME-MOLDING.DE"),
    ("Meine Seite: kunststoffberatung-meier.de/kontakt", "kunststoffberatung-meier.de/kontakt"),
    ("h t t p s : / / j d o e . d e", "h t t p s : / / j d o e . d e"),
    ("my blog acme(dot)com/blog", "acme(dot)com/blog"),
    ("book a slot: https://zoom.us/j/1234567890", "https://zoom.us/j/1234567890"),
    ("short link bit.ly/3xYz9Q", "bit.ly/3xYz9Q"),
    ("see janedoe.net", "janedoe.net"),
    ("hxxps://jane-doe.eu", "hxxps://jane-doe.eu"),
    ("github.com/janedoe/mould-calc has my scripts", "github.com/janedoe/mould-calc"),
    ("Instagram: instagram.com/jane.moulds", "instagram.com/jane.moulds"),
    ("www dot janedoe dot com", "www dot janedoe dot com"),
    # Handles
    ("Add me on skype: jane.doe.acme", "jane.doe.acme"),
    ("telegram @janedoe88", "@janedoe88"),
    ("My wechat id is jdoe1988", "jdoe1988"),
    ("WeChat: jane_doe_cn", "jane_doe_cn"),
    ("Follow me @jane_moulds", "@jane_moulds"),
    ("linkedin: jane-doe-4711", "jane-doe-4711"),
    ("mein Skype-Name lautet jane.doe", "jane.doe"),
    ("Discord: jdoe#4711", "jdoe"),
    ("skype live:.cid.4f3a2b1c", "live:.cid.4f3a2b1c"),
    ("Telegram: janedoe", "janedoe"),
    ("insta @jane.makes.moulds", "@jane.makes.moulds"),
    ("find me on linkedin /in/jane-doe", "/in/jane-doe"),
    ("Threema ID: ABCD1234", "ABCD1234"),
    ("my skype is jdoe_acme", "jdoe_acme"),
    ("line id: jdoe88", "jdoe88"),
    ("twitter @jdoe_eng", "@jdoe_eng"),
    ("Xing: Jane_Doe2", "Jane_Doe2"),
    ("Mein Telegram ist @jdoe", "@jdoe"),
    ("skype name: janedoe", "janedoe"),
    ("auf Instagram unter jane.doe.kunststoff", "jane.doe.kunststoff"),
    ("whatsapp jane.doe", "jane.doe"),
    ("tiktok: @mouldmaker_jane", "@mouldmaker_jane"),
    ("github: janedoe-dev", "janedoe-dev"),
    # Mixed, several in one message
    ("Jane Doe, +49 170 1234567, jane@acme.de", "+49 170 1234567"),
    ("Jane Doe, +49 170 1234567, jane@acme.de", "jane@acme.de"),
    ("ping me at jane.doe at gmail dot com or 0170 1234567", "jane.doe at gmail dot com"),
    ("ping me at jane.doe at gmail dot com or 0170 1234567", "0170 1234567"),
    ("skype: jdoe77 / tel 0170-7654321", "jdoe77"),
    ("skype: jdoe77 / tel 0170-7654321", "0170-7654321"),
    ("site acme.de, mail info at acme dot de", "acme.de"),
    ("site acme.de, mail info at acme dot de", "info at acme dot de"),
]

# Ordinary technical messages of plastics engineering: nothing may be masked.
ORDINARY: list[str] = [
    "The housing is PA66-GF30, black, UV stabilised.",
    "Please check part 4711-220-03 against the latest drawing.",
    "Melt at 285 °C, mould 80-90°C, holding pressure 650 bar.",
    "Clamp force 2500 kN should be enough for the 4-cavity tool.",
    "Cycle time is 32.5 s at the moment, target 28 s.",
    "Tensile bars per ISO 294-1 and test per DIN EN ISO 527-2.",
    "ASTM D638 type I specimens, conditioned 48 h at 23 °C / 50 % RH.",
    "Flammability UL 94 V-0 at 1.5 mm is required.",
    "Bore Ø 12.5 ± 0.05 mm, flatness 0.1 mm.",
    "Let's have the meeting at 14:30 on 12.03.2027.",
    "The budget is EUR 12,500 for the simulation.",
    "I used Moldflow 2024.1 for the fill analysis.",
    "The file housing_v3.step has the new ribs.",
    "Shrinkage was 1.2 % in flow and 1.6 % across.",
    "Lot 2027031245 showed the sink marks.",
    "Screw speed 120 rpm, back pressure 80 bar.",
    "Glass fibre content 30 %, density 1.36 g/cm³.",
    "We met at the plant last Tuesday.",
    "The dot on the drawing marks the gate location.",
    "Mix ratio 100:3 for the masterbatch.",
    "Barrel zones 220 230 240 250 260 °C from hopper to nozzle.",
    "Dimensions 120 x 80 x 45 mm, wall thickness 2.5 mm.",
    "Drying 4 h at 80 °C, residual moisture below 0.02 %.",
    "Injection speed 80 mm/s, switch-over at 98 % volume.",
    "The mould has 8 cavities and a hot runner with 8 nozzles.",
    "Order 4500123456 was released yesterday.",
    "Tool life 1,000,000 shots guaranteed.",
    "Surface finish VDI 3400 Ref 27 on the visible side.",
    "Tolerance class DIN ISO 20457 TG6.",
    "The revision 3.2.1 of the spec is attached.",
    "Impact strength 45 kJ/m² at -30 °C per ISO 179-1.",
    "MFI 12 g/10 min at 230 °C / 2.16 kg.",
    "See drawing 12345-678-90 rev C.",
    "Serial number S/N 2345 6789 0123 on the controller.",
    "Delivery planned for 2027-03-12, week 11.",
    "Between 2025-2027 we produced 3.2 million parts.",
    "Please quote 10000, 25000 and 50000 pcs.",
    "Use the attached file mould_cooling_v2.xlsx.",
    "We need a gate diameter of 1.2 mm.",
    "Project budget: € 1 250 000 over three years.",
    "Machine: Arburg 470 A 1500-400, screw 35 mm.",
    "The steel is 1.2343 ESR, hardened to 50-52 HRC.",
    "Put the weld line at least 15 mm away from the snap fit.",
    "The sensor signal is 4-20 mA.",
    "Material: PC/ABS Bayblend T65 XF, colour RAL 9005.",
    "Ejector pins Ø 4 and Ø 6, 20 pieces each.",
    "Melt temperature 260-280 °C, mould temperature 60-80 °C.",
    "We tested at 1.5, 2.0 and 2.5 mm wall thickness.",
    "Results: 12.5 13.0 13.5 14.0 mm across the four cavities.",
    "The CAD export is in STEP AP214 format.",
    "Die Schmelzetemperatur liegt bei 285 °C.",
    "Bitte Teil 4711-220-03 nach Zeichnung prüfen.",
    "Die Werkzeugtemperatur beträgt 80-90 °C.",
    "Nachdruck 650 bar für 8 s.",
    "Schließkraft 2500 kN, Zykluszeit 32,5 s.",
    "Prüfung nach DIN EN ISO 527-2 und ISO 179-1eU.",
    "Das Treffen ist am 12.03.2027 um 14:30 Uhr.",
    "Die Toleranz beträgt ± 0,05 mm.",
    "Budget EUR 12.500, netto.",
    "Charge 230415-07 hatte Einfallstellen.",
    "Wir haben uns im Werk getroffen.",
    "Der Punkt auf der Zeichnung markiert den Anschnitt.",
    "Glasfaseranteil 30 %, Dichte 1,36 g/cm³.",
    "Trocknung 4 h bei 80 °C.",
    "Schneckendrehzahl 120 U/min.",
    "Das Werkzeug hat zwei Kavitäten und einen Heißkanal.",
    "Die Datei gehaeuse_v3.stp enthält die neuen Rippen.",
    "Zonen 220 / 230 / 240 / 250 °C.",
    "Bestellung 4500-1234-56 ist freigegeben.",
    "Version 2.4.1 der Norm ist gültig ab 01.01.2027.",
    "Wanddicke 2,5 mm, Radius 0,5 mm.",
    "Wir brauchen null Fehler bei der Serie.",
    "Eins nach dem anderen: erst die Füllstudie, dann die Verzugsanalyse.",
    "Drei oder vier Kavitäten wären möglich.",
    "One cavity is enough for the prototype, two for the series.",
    "We can do it at one point next week.",
    "Plus 30 % glass fibre makes it stiffer.",
    "PA6 plus 15 % GF, minus 5 % impact modifier.",
    "I'll check at the machine and report back.",
    "The gate is at the thick section, as discussed.",
    "Let's look at the results dot by dot.",
    "The ribs are at 1.2 mm, the boss at 2.5 mm.",
    "KW 12/2027 for the T1 samples.",
    "Invoice 2027-0045-12 is attached.",
    "Lieferschein 8000123456 liegt bei.",
    "Artikelnummer 10-4711-220-03-A.",
    "Cooling channels Ø 8 mm, 15 mm below the surface.",
    "The temperature profile was 40 45 50 55 60 65 °C.",
    "Pressure drop 350 - 420 - 510 bar across the three gates.",
    "IP 192.168.10.25 is the machine HMI.",
    "Our price is USD 45 000 000 for the full line.",
    "Time stamp 2027-03-12T10:15:00 in the log.",
    "Part numbers 100-200-300 and 100-200-301 share the insert.",
    "Use ratio 3:1 for the compression zone.",
    "Shot weight 125.5 g, runner 12.3 g.",
    "Pressure 1200 bar at 120 mm/s.",
    "Heater bands 6 x 800 W.",
    "Mould base 446 x 546 x 396 mm.",
    "The ISO 11469:2016 marking >PA66-GF30< is moulded in.",
    "From 08:00 to 16:30 the line runs two shifts.",
    "The tool was built in 2019 and refurbished in 2024.",
    "Figure 3.2 shows the fill pattern; table 4.1 the pressures.",
    "Use 0.05 mm venting depth, 3 mm land.",
    "We have 12 presses from 50 to 800 t.",
    "At 23 °C the modulus is 9500 MPa.",
    "The check.It works now after the update.",
    "Thanks, done.No further issues with the ejectors.",
    "The housing_v4_final.step and cover_v2.igs are uploaded.",
    "The report.pdf is attached, see section 5.3.",
    "DIN 16742 tolerance group TG 5 applies.",
    "Tests per IEC 60695-2-12 glow wire at 850 °C.",
    "We need 1 2 3 cavities? No, four.",
    "Resin cost EUR 3.45 per kg, 2 500 t per year.",
    "Ratio of 1.05 to 1.10 is typical.",
    "Sample sizes 5, 10, 15, 20, 25 and 30 parts.",
    "The steel plates are 27 46 56 mm thick.",
    "Colour code RAL 7035 or Pantone 426 C.",
    "The insert is 1.2379, 58-60 HRC.",
    "Simulation with 2.5 million elements took 3 h.",
    "Regrind share max. 20 %, z.B. bei Anfahrteilen.",
    "Temperaturen ca. 230-250 °C, bzw. nach Datenblatt.",
]


# Later rounds, written to probe the rules after the first tuning: signatures, markup, Swiss and
# UK formats, odd spacing. A few failures led to fixes; the rest stay here as known misses.
DISGUISED += [
    ('You can mail me privately: peter.schmidt1975 at googlemail dot com', 'peter.schmidt1975 at googlemail dot com'),
    ('for the files use p_schmidt(at)posteo.de', 'p_schmidt(at)posteo.de'),
    ('Adresse: p.schmidt at ingenieurbuero-schmidt dot de', 'p.schmidt at ingenieurbuero-schmidt dot de'),
    ('drop a line to peter AT schmidt-cae DOT com', 'peter AT schmidt-cae DOT com'),
    ('peter.schmidt [ at ] gmail [ dot ] com', 'peter.schmidt [ at ] gmail [ dot ] com'),
    ('My gmail: peter.schmidt.cae@gmail.com', 'peter.schmidt.cae@gmail.com'),
    ('p s c h m i d t at g m x dot d e', 'p s c h m i d t at g m x dot d e'),
    ('send to peter_s (at) web.de pls', 'peter_s (at) web.de'),
    ('E-Mail lautet peter.s@schmidt-kunststoffe.com', 'peter.s@schmidt-kunststoffe.com'),
    ('mail@peterschmidt.eu', 'mail@peterschmidt.eu'),
    ('Handy: 0 1 5 2 - 3 4 5 6 7 8 9 0', '0 1 5 2 - 3 4 5 6 7 8 9 0'),
    ('Call me under 0152 34567890', '0152 34567890'),
    ('my number: +49 152 3456 7890', '+49 152 3456 7890'),
    ('0152-345 678 90 is my mobile', '0152-345 678 90'),
    ('call: one five two, three four five, six seven eight nine zero',
     'one five two, three four five, six seven eight nine zero'),
    ('null eins fünf zwei / drei vier fünf sechs sieben acht neun null',
     'null eins fünf zwei / drei vier fünf sechs sieben acht neun null'),
    ('Tel.: +49(0)621-12345678', '+49(0)621-12345678'),
    ('Ruf einfach an, 06211234567', '06211234567'),
    ('Phone/WhatsApp +39 347 123 4567', '+39 347 123 4567'),
    ('My office is 0621 / 123 456 78, ask for Peter', '0621 / 123 456 78'),
    ('the number is 0621.123.45.678', '0621.123.45.678'),
    ('call +33 6 12 34 56 78', '+33 6 12 34 56 78'),
    ('oh one five two three four five six seven eight nine', 'oh one five two three four five six seven eight nine'),
    ('zero one five two. three four five. six seven eight.', 'zero one five two. three four five. six seven eight'),
    ('my cell: 0152 three four five 6789 0', '0152 three four five 6789 0'),
    ('find me at www.schmidt-cae.de', 'www.schmidt-cae.de'),
    ('portfolio: schmidt-cae.com/projects', 'schmidt-cae.com/projects'),
    ('my page schmidt-cae dot de', 'schmidt-cae dot de'),
    ('https://www.linkedin.com/in/peter-schmidt-cae/', 'https://www.linkedin.com/in/peter-schmidt-cae/'),
    ('see LinkedIn: linkedin.com/in/pschmidt', 'linkedin.com/in/pschmidt'),
    ('Xing-Profil xing.com/profile/Peter_Schmidt', 'xing.com/profile/Peter_Schmidt'),
    ('http: // schmidt-cae . de', 'http: // schmidt-cae . de'),
    ('go to schmidt-cae(dot)de', 'schmidt-cae(dot)de'),
    ('my CV is on peterschmidt.info', 'peterschmidt.info'),
    ('Skype: peter.schmidt.cae', 'peter.schmidt.cae'),
    ('skype me: pschmidt_cae', 'pschmidt_cae'),
    ('telegram: @pschmidt', '@pschmidt'),
    ('WeChat ID: pschmidt2020', 'pschmidt2020'),
    ('Insta: @peter.moulds', '@peter.moulds'),
    ('mein Telegram: pschmidt_cae', 'pschmidt_cae'),
    ('add me on discord pschmidt#0042', 'pschmidt'),
    ('X/Twitter: @pschmidt_cae', '@pschmidt_cae'),
    ('Facebook: facebook.com/peter.schmidt.77', 'facebook.com/peter.schmidt.77'),
    ('WhatsApp me on 0152 3456 7890', '0152 3456 7890'),
    ('signal: +49 152 34567890', '+49 152 34567890'),
    ('Viber +49 152 34567890', '+49 152 34567890'),
    ('my skype id is live:peter_s_1', 'live:peter_s_1'),
    ('LinkedIn-Profil: Peter-Schmidt-CAE', 'Peter-Schmidt-CAE'),
    ('Threema: 7XK3M9PQ', '7XK3M9PQ'),
    ('contact: peter.schmidt@schmidt-cae.de / +49 621 1234567', 'peter.schmidt@schmidt-cae.de'),
    ('contact: peter.schmidt@schmidt-cae.de / +49 621 1234567', '+49 621 1234567'),
    ('E-Mail p.schmidt(at)schmidt-cae(punkt)de, Tel. 0621 12345-67', 'p.schmidt(at)schmidt-cae(punkt)de'),
    ('E-Mail p.schmidt(at)schmidt-cae(punkt)de, Tel. 0621 12345-67', '0621 12345-67'),
    ('peter dot schmidt at gmail', 'peter dot schmidt at gmail'),
    ('ps@schmidt.cae', 'ps@schmidt.cae'),
    ('my email pschmidt at yahoo dot de', 'pschmidt at yahoo dot de'),
    ('write me to p.s-c-h-m-i-d-t@gmx.de', 'p.s-c-h-m-i-d-t@gmx.de'),
    ('Meine Nummer ist null-eins-fünf-zwei drei-vier-fünf sechs-sieben-acht-neun',
     'null-eins-fünf-zwei drei-vier-fünf sechs-sieben-acht-neun'),
    ('Tel 0621 / 1 2 3 4 5 6 7', '0621 / 1 2 3 4 5 6 7'),
    ('call zero one five two - 3456 - 7890', 'zero one five two - 3456 - 7890'),
    ('Best is my private address: anna.berg87 at web dot de', 'anna.berg87 at web dot de'),
    ('anna_berg(at)gmx(dot)ch', 'anna_berg(at)gmx(dot)ch'),
    ('a.berg // at // outlook // dot // com', 'a.berg // at // outlook // dot // com'),
    ('Anna.Berg@Berg-Consulting.CH', 'Anna.Berg@Berg-Consulting.CH'),
    ('anna berg at gmail dot com', 'berg at gmail dot com'),
    ('my mail is anna.berg, at gmail', 'anna.berg, at gmail'),
    ('E-Mail: anna.berg ät bluewin punkt ch', 'anna.berg ät bluewin punkt ch'),
    ('annaberg at protonmail dot me', 'annaberg at protonmail dot me'),
    ('a-n-n-a at g-m-x dot net', 'a-n-n-a at g-m-x dot net'),
    ('Mobile: +41 (0)79 123 45 67', '+41 (0)79 123 45 67'),
    ('Natel 079 123 45 67', '079 123 45 67'),
    ('Tel 0041 79 123 45 67', '0041 79 123 45 67'),
    ('call: null sieben neun, eins zwei drei, vier fünf, sechs sieben',
     'null sieben neun, eins zwei drei, vier fünf, sechs sieben'),
    ('my phone number is seven nine one two three four five six seven', 'seven nine one two three four five six seven'),
    ('Ring 0 7 9 . 1 2 3 . 4 5 . 6 7', '0 7 9 . 1 2 3 . 4 5 . 6 7'),
    ('+41791234567', '+41791234567'),
    ('(+41) 79-123-45-67', '(+41) 79-123-45-67'),
    ('079/123.45.67 am Abend', '079/123.45.67'),
    ('I am reachable at 079 1234567 after 6 pm', '079 1234567'),
    ('nummer: 0 - 7 - 9 - 1 - 2 - 3 - 4 - 5 - 6 - 7', '0 - 7 - 9 - 1 - 2 - 3 - 4 - 5 - 6 - 7'),
    ('berg-consulting.ch has my references', 'berg-consulting.ch'),
    ('see www .berg-consulting. ch', 'www .berg-consulting. ch'),
    ('my homepage: berg-consulting(.)ch', 'berg-consulting(.)ch'),
    ('https://berg-consulting.ch/ueber-mich', 'https://berg-consulting.ch/ueber-mich'),
    ('on LinkedIn linkedin.com/in/annaberg', 'linkedin.com/in/annaberg'),
    ('calendly dot com slash anna-berg', 'calendly dot com'),
    ('Homepage: annaberg.design/portfolio', 'annaberg.design/portfolio'),
    ('Skype ID anna.berg.ch', 'anna.berg.ch'),
    ('telegram: annaberg_ch', 'annaberg_ch'),
    ('insta: anna.berg.design', 'anna.berg.design'),
    ('my WhatsApp is +41 79 123 45 67', '+41 79 123 45 67'),
    ('@anna_berg_ch on twitter', '@anna_berg_ch'),
    ('Wechat: annaberg', 'annaberg'),
    ('LinkedIn: /in/anna-berg-ch', '/in/anna-berg-ch'),
    ('meine Skype-Adresse: anna.berg', 'anna.berg'),
    ('[my site](https://jdoe.dev/about)', 'https://jdoe.dev/about'),
    ('(see www.jdoe.dev)', 'www.jdoe.dev'),
    ('"jane.doe@gmail.com"', 'jane.doe@gmail.com'),
    ('<jane.doe@gmail.com>', 'jane.doe@gmail.com'),
    ('Mail:jane.doe@gmail.com,Tel:+491701234567', 'jane.doe@gmail.com'),
    ('Mail:jane.doe@gmail.com,Tel:+491701234567', '+491701234567'),
    ('Best regards\nJane Doe\nAcme Molding GmbH\nT +49 6221 123456\nM +49 170 1234567\nwww.acme-molding.de',
     '+49 6221 123456'),
    ('Best regards\nJane Doe\nAcme Molding GmbH\nT +49 6221 123456\nM +49 170 1234567\nwww.acme-molding.de',
     '+49 170 1234567'),
    ('Best regards\nJane Doe\nAcme Molding GmbH\nT +49 6221 123456\nM +49 170 1234567\nwww.acme-molding.de',
     'www.acme-molding.de'),
    ('Ich bin unter 0 1 7 0 / 1 2 3 4 5 6 7 erreichbar', '0 1 7 0 / 1 2 3 4 5 6 7'),
    ('zero one seven zero - one two three - four five six seven',
     'zero one seven zero - one two three - four five six seven'),
    ('Tel: 06221 - 12 34 56', '06221 - 12 34 56'),
    ('Give me a call: 06221 123456', '06221 123456'),
    ('my number 1 7 0 1 2 3 4 5 6 7 (no leading zero, add +49)', '1 7 0 1 2 3 4 5 6 7'),
    ('jane.doe at acme-molding.de', 'jane.doe at acme-molding.de'),
    ('janedoe at acme-molding.de', 'acme-molding.de'),
    ('Try JDoe AT Acme DOT de', 'JDoe AT Acme DOT de'),
    ('mailto:jane@acme.de', 'jane@acme.de'),
    ('@JaneDoe_Moulds', '@JaneDoe_Moulds'),
    ('IG @jane.moulds', '@jane.moulds'),
    ('Skype - jane.doe.77', 'jane.doe.77'),
    ('Meine WhatsApp: 0170 1234567', '0170 1234567'),
    ('SMS an 0170/1234567', '0170/1234567'),
    ('anrufen: +49 170 1234567', '+49 170 1234567'),
    ('Fax +49 6221 123457', '+49 6221 123457'),
]

ORDINARY += [
    'The line dashboard pushes the cavity pressures over Socket.IO every second.',
    'Our MES is an old ASP.NET application that reads the press over OPC UA.',
    'Die Auswertung läuft in einer VB.NET-Anwendung auf dem Leitrechner.',
    'Ich schlage vor, die Rippen auf 1,2 mm zu reduzieren.',
    'The wall thickness of 2.5 mm at the boss causes sink marks.',
    'Mould temperature at the core side is 85 °C, cavity side 75 °C.',
    'Gate freeze at 6.5 s according to the gate seal study.',
    'We ran 5 shots at 600, 650, 700, 750 and 800 bar.',
    'DIN EN ISO 1133-1 MVR 25 cm³/10 min.',
    'Per ISO 2818 the specimens were machined.',
    'Drawing no. 0045-1234-5678 rev B.',
    'Warpage 0.8 mm at the corner, target below 0.3 mm.',
    'See attached moldflow_results_2027-03-12.pdf.',
    'Approved at the design review on 2027-04-01.',
    'Material cost 2,35 €/kg, annual volume 1.200.000 pcs.',
    'Die Kosten liegen bei 12 500 000 EUR.',
    'Lot 0012345678 from the supplier was wet.',
    'Hot runner 8-drop, nozzle tips Ø 1.8.',
    'Sprue bushing SR 15.5, orifice 3.5 mm.',
    'Cooling water 18 °C, flow 12 l/min per circuit.',
    'Vent depths 0.015-0.02 mm for PA66.',
    'ISO 16750-3:2012 vibration profile.',
    'The steel 1.2738 was pre-hardened to 1080 N/mm².',
    'At 80 °C the part relaxes by 0.2 mm.',
    'We looked at the gate and at the vents.',
    'at least 3 samples at each setting',
    'The point at which the flow fronts meet is the weld line.',
    'One, two, three cavities were filled, the fourth short.',
    'Zwei Punkte: die Entformungsschräge und die Rippenhöhe.',
    'Um acht Uhr beginnt die Bemusterung.',
    'Ich bin ab neun im Büro und ab zwölf an der Maschine.',
    'Elf Teile waren fehlerhaft, neun davon mit Bindenaht.',
    'Die Fertigung läuft am 12.03. und 13.03.2027.',
    'Period 01/2027 - 06/2027 for the series ramp-up.',
    'Ticket 2027-000123 was closed.',
    'File name: gehaeuse_rev3_2027-03-12.step',
    'Version 10.2.3.4567 of the software.',
    'Tool number WZ-2027-0815 is in maintenance.',
    'Cycle counter at 1 234 567 shots.',
    'The press is a KM 350-1400 CX.',
    'Pressure curve sampled at 1000 Hz over 12.5 s.',
    'Temperatures: 230, 235, 240, 245 °C.',
    'Section A-A at 45°, detail B at scale 5:1.',
    'Use M8 x 1.25 screws, torque 25 Nm.',
    'UL file E123456, yellow card attached.',
    'RoHS and REACH compliant, SVHC list 01/2027.',
    'Thanks for the update.See you tomorrow.',
    'Works fine.Thanks again!',
    'We will ship on 03/15/2027 by DHL.',
    'The drawing says 40 +0.1/-0.05 mm.',
    'Flow length ratio 150:1 at 1 mm wall.',
    'E-modulus 3 200 MPa, elongation 4 %.',
    'Cost per part 0,45 EUR at 2 000 000 parts per year.',
    'Anna from quality will join at 10:00.',
    'We are at 95 % of the target dimension.',
    'Please look at page 12 of the report.',
    'Shot size at 45 mm, cushion 5 mm.',
    'We will be at K 2028 in Düsseldorf, hall 10.',
    'At the end of the day we need a stable process.',
    'I am at the customer today and tomorrow.',
    'Sample at 23 °C and at 80 °C.',
    'Draft angle 1.5° at the ribs.',
    'Mould at temperature, machine at rest.',
    'Done at last!',
    'The gate at position 3 freezes first.',
    'dot matrix printing on the label',
    'Put a dot at the ejector side.',
    'Der Punkt 4.2 der Spezifikation ist unklar.',
    'Punkt 3: Entformung; Punkt 4: Verpackung.',
    'Die Bindenaht liegt bei 45 mm.',
    'Zwei Nester, vier Schieber und ein Heißkanal mit acht Düsen.',
    'Null Toleranz bei Graten.',
    'Wir fahren mit 1 2 3 Stufen Nachdruck.',
    'Our supplier number is 4711, the plant code 0815.',
    'Customer no. 0012 3456 78.',
    'PO 0045123456 dated 2027-03-12.',
    'Reference 0800-1234-5678 in the ERP.',
    'We have 0.5, 0.8 and 1.0 mm inserts.',
    'Temperature 0 1 2 3 4 5 6 °C steps? No, 5 °C steps.',
    'Cooling time from 10 to 12 s.',
    'The mould weighs 1 250 kg.',
    'Production 24/7, 3 shifts, 5 days.',
    'Window 13:00-14:00 on 2027-03-15 for the trial.',
    'EAN 4006381333931 on the box.',
    'Order volume 2.000.000 parts p.a.',
    'Machine hours 12 345 678 in total.',
    'Tool ID 2027/03/0042.',
    'Tested 10.03.2027, 11.03.2027 and 12.03.2027.',
    'Conveyor speed 0.25 m/s, 1200 parts/h.',
    'Spare parts list v1.3.pdf',
    'Scan of the label: LOT 0045 1234 5678.',
    'The parts were at 12.03.2027 14:30 in the lab.',
    'The report from 2027-03-12 10:15 is attached.',
    'Please use the ISO 9001:2015 template.',
    'It is .step not .stp.',
    'See sheet 2 of housing.xlsx and cover.dwg.',
    'PA66.GF30 was a typo, I meant PA66-GF30.',
    'e.g. PA6 or i.e. the same base resin.',
    'Values 1.234.567 and 2.345.678 were logged.',
    'ca. 20 Teile/h bzw. 480 Teile/Tag.',
    'Messung am 01.02.2027, Bericht Nr. 2027-0012.',
    'Achtung: acht Kavitäten, nicht neun.',
    'One-two shots were short.',
    "Please don't use Skype, the portal channel is enough.",
    'Skype is blocked in our network.',
    "I don't have telegram or whatsapp on the work phone.",
    'LinkedIn is not allowed for this project.',
    'Signal quality of the pressure sensor is poor.',
    'The weld line is visible on the class A surface.',
    'Polymer matrix and fibre interface are the issue.',
    'tested @RT and @-30 °C',
    'Notched impact @23°C: 8 kJ/m²',
    '1 shot @ 80 mm/s, 2 shots @ 120 mm/s',
    'Heater @ zone 3 failed.',
    'Werk in AT, Vertrieb in DE.',
    'Shipping from CN to DE takes 6 weeks.',
    'PP.PE blends are hard to recycle.',
    'Zwei Punkte bitte beachten.',
    'Um Punkt 12 Uhr startet der Versuch.',
    'at least 0.5 mm, at most 0.8 mm',
    'Use the ABS.HI grade.',
    'Tg of PC is about 145 °C, Tg: 145 °C.',
    'The Tm is 260 °C.',
    'Part A.B.C. is the assembly.',
    'The gate is 1.5 mm.The runner 6 mm.',
    'Drawing rev.B, step file rev.C.',
    'Dimension check: OK.Next: colour.',
    'Shrinkage 0.4-0.6 %, see 3.2.1.',
    'tel. conference at 10:00 tomorrow',
    'Call at 10:00 tomorrow, topic: cooling.',
    "Let's call at 14:30 on 12.03.2027.",
    'Call me when the T1 parts are at the lab.',
    'Phone meeting on 2027-03-12 at 09:00.',
    "we'll call the toolmaker, part 4711-220-03 is late",
    'My mobile is broken, please use the channel.',
    'Mobile phone housings, 2 million per year.',
    'Handy-Gehäuse aus PC/ABS, 1,5 Mio. Stück pro Jahr.',
    'Text me the results here in the channel.',
    'Number of cavities: 16, number of slides: 4.',
    'The number is 16 cavities, not 32.',
    'Ring gate Ø 25 mm.',
    'Ring 2 of the bearing housing, 0.05 mm runout.',
    'O-ring 12 x 2 mm, NBR 70.',
    'Fax is not used any more.',
    'Contact pressure 5 N/mm².',
    'Kontaktfläche 120 x 80 mm.',
    'Direct gating at 0.8 mm, direkt angespritzt.',
    'The private label version has 4 colours.',
    'Reach the target of 99.5 % yield.',
    'We reached 1 250 000 shots last week.',
    'Erreicht: 12 500 Teile pro Tag.',
    'Anruf vom Kunden: Teil 4711-220-03 ist freigegeben.',
    'Die Sachnummer 0815-4711-00 ist neu.',
    'Ordnernummer 2027 / 0012 / 34.',
    'gehäuse.step und deckel.stp liegen bereit',
    'model.stl (binary) and model_ascii.stl',
    'Cpk 1.67 at 0.05 mm tolerance.',
    'Preis: 1.250,00 EUR pro Werkzeug.',
    'Lieferung KW 12-14/2027.',
    'Schicht 06:00-14:00-22:00.',
    'Rev. 3 vom 12.03.27.',
    'Nr. 12345678 im ERP.',
    'item 0045 6789 1234',
    'I was at Arburg in Lossburg at 9.',
    'meet at hall 10 at booth 10C22',
    'Meeting point at gate 3 dot 2',
    'Mould 1 at 80 °C dot 2 at 85 °C.',
    "The @ sign on the drawing means 'at'.",
    'Use the e-mail function of the portal.',
    'Is your linkedin up to date? Not relevant here.',
    'whatsapp groups are not allowed',
    'telegram style notes: short and clear',
    'Der Kunde sitzt in Lüdenscheid, das Werk in Polen.',
    'Temperature profile 200-210-220-230-240 °C',
    'Distances 10.5 / 12.5 / 14.5 / 16.5 mm.',
    'Clamping 150 t, 250 t and 400 t machines.',
    'Material no. 1.2311, 1.2738, 1.2343.',
    'Moisture content 0.05 %, measured 12.03.2027 at 08:15.',
    'Seq 1-2-3-4-5-6-7-8 for the valve gates.',
    'Valve gate sequence 1 2 3 4 5 6 7 8 9 10.',
]


def _detected(sentence: str, secret: str) -> bool:
    start = sentence.index(secret)
    end = start + len(secret)
    covered = [False] * len(sentence)
    for finding in mask_contacts(sentence).findings:
        for i in range(finding.start, finding.end):
            covered[i] = True
    return all(covered[i] for i in range(start, end) if not sentence[i].isspace())


def test_corpora_are_large_enough() -> None:
    assert len(DISGUISED) >= 110
    assert len(ORDINARY) >= 110
    assert all(secret in sentence for sentence, secret in DISGUISED)


def test_detection_rate_on_the_disguise_corpus() -> None:
    missed = [(sentence, secret) for sentence, secret in DISGUISED if not _detected(sentence, secret)]
    rate = 1 - len(missed) / len(DISGUISED)
    print(f"\nmasking detection rate: {rate:.3f} ({len(DISGUISED) - len(missed)}/{len(DISGUISED)})")
    for sentence, secret in missed:
        print(f"  missed: {secret!r} in {sentence!r}")
    assert rate >= 0.95


@pytest.mark.parametrize("sentence", ORDINARY)
def test_ordinary_technical_sentence_is_unchanged(sentence: str) -> None:
    result = mask_contacts(sentence)
    assert result.findings == ()
    assert result.text == sentence
    assert not result.changed


def test_false_positive_count_is_zero() -> None:
    flagged = [s for s in ORDINARY if mask_contacts(s).changed]
    print(f"\nmasking false positives: {len(flagged)}/{len(ORDINARY)}")
    assert flagged == []


# Unit tests -----------------------------------------------------------------------------


def test_offsets_point_into_the_original() -> None:
    text = "Mail jane.doe at gmail dot com now"
    result = mask_contacts(text)
    assert len(result.findings) == 1
    finding = result.findings[0]
    assert finding.kind == "email"
    assert (finding.start, finding.end) == (5, 30)
    assert finding.original == "jane.doe at gmail dot com"
    assert text[finding.start:finding.end] == finding.original


def test_mask_placement_keeps_the_rest_exactly() -> None:
    text = "Hi team,\n  call +49 170 1234567 or write jane@acme.de  — thanks!"
    result = mask_contacts(text)
    assert result.text == f"Hi team,\n  call {MASK} or write {MASK}  — thanks!"
    assert [f.kind for f in result.findings] == ["phone", "email"]


def test_multiple_findings_are_ordered_and_disjoint() -> None:
    text = "skype: jdoe77, site www.jdoe.de, tel 0170 7654321, mail jdoe@gmail.com, @jdoe_x"
    result = mask_contacts(text)
    kinds = [f.kind for f in result.findings]
    assert kinds == ["handle", "link", "phone", "email", "handle"]
    starts = [f.start for f in result.findings]
    assert starts == sorted(starts)
    for first, second in zip(result.findings, result.findings[1:], strict=False):
        assert first.end <= second.start
    assert result.text == f"skype: {MASK}, site {MASK}, tel {MASK}, mail {MASK}, {MASK}"
    for finding in result.findings:
        assert text[finding.start:finding.end] == finding.original


def test_link_keeps_trailing_punctuation_outside() -> None:
    result = mask_contacts("See www.acme.de.")
    assert result.text == f"See {MASK}."
    assert result.findings == (Finding("link", "www.acme.de", 4, 15),)


def test_empty_and_plain_text() -> None:
    assert mask_contacts("") == Masked("", ())
    assert not mask_contacts("").changed
    assert mask_contacts("Looks good to me.") == Masked("Looks good to me.", ())


def test_changed_property() -> None:
    assert mask_contacts("jane@acme.de").changed
    assert not mask_contacts("650 bar").changed


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    def fail(signum: int, frame: object) -> None:
        raise TimeoutError(f"mask_contacts took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _long_inputs() -> Iterator[tuple[str, str]]:
    size = 200 * 1024
    rng = random.Random(7)
    words = [s for s in ORDINARY] + [s for s, _ in DISGUISED]
    prose = []
    while sum(len(p) + 1 for p in prose) < size:
        prose.append(rng.choice(words))
    yield "prose", " ".join(prose)[:size]
    yield "letters", "a" * size
    yield "dotted labels", "a." * (size // 2)
    yield "spaced letters", "a " * (size // 2)
    yield "spaced digits", "1 " * (size // 2)
    yield "digits and dashes", "12-" * (size // 3)
    yield "at signs", "a@" * (size // 2)
    yield "spaces", " " * size
    yield "at words", "x at " * (size // 5)
    yield "number words", "one " * (size // 4)
    yield "mixed punctuation", "".join(rng.choice("a1.@-_ /:()[]+") for _ in range(size))
    yield "long dotted domain", "x@" + "a." * (size // 2) + "1"
    yield "link with closing brackets", "www.a.de" + ")" * size
    yield "spaced dots", "a . " * (size // 4)
    yield "platform keyword and spaces", "skype" + " " * size + "x"


@pytest.mark.parametrize("name, text", list(_long_inputs()), ids=[n for n, _ in _long_inputs()])
def test_long_input_finishes(name: str, text: str) -> None:
    with _deadline(5):
        result = mask_contacts(text)
    assert len(text) >= 190 * 1024
    # Masking only ever replaces spans: what is left between the findings is the original.
    rebuilt = []
    last = 0
    for finding in result.findings:
        rebuilt.append(text[last:finding.start])
        rebuilt.append(MASK)
        last = finding.end
    rebuilt.append(text[last:])
    assert "".join(rebuilt) == result.text
